"""End-to-end kiosk figures through the REAL broker and the REAL hub process.

A simulated kiosk (hal_sim rig under the real drivers, `firmware.assembly.build_kiosk`)
runs in this process against a private broker and a `python -m hub` child with its
own SQLite ledger: by default the secure setup (`bench.endpoints`, `hub.lab.lab`): the TLS
broker, the kiosk enrolled with its own certificate and verifying what the hub signs,
the hub with its worker certificate and signing key serving only enrolled kiosks. The
same figures can be taken on a plain anonymous broker (`plain_endpoint()`) to show
what TLS costs. Views are timestamped with `runtime.on_view`, so every figure ends
where a reader would see it: the greeting (PIN screen) after a tap, the book's line
showing "loaned" with a due date after a scan.

Each latency is measured twice: from the physical act (the card entering the field,
the scanner writing the barcode into its pty), and from the device event posted into
the runtime's queue (CardPresented / BarcodeRead), so the card reader's poll interval
and the pty are separated from the core + hub link + broker + hub part.
Run alone: `python -m bench.kiosk_e2e` prints the figures as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.endpoints import Endpoint
from hub.worker.worker_process import WorkerNotReady, WorkerProcess, start_hub_worker, worker_args

ROOT = Path(__file__).resolve().parents[1]
KIOSK_ID = "bench-kiosk"
LIBRARY_ID = "capital"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """n, p50, p99, max in milliseconds of durations given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.5), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
    }


# ---- the hub child --------------------------------------------------------------------


@dataclass
class HubProcess:
    """`python -m hub` as a child (hub/worker/worker_process.py), ready once it says READY."""

    broker_url: str
    db_url: str
    log_path: Path
    config: Path
    child: WorkerProcess | None = None
    ready_s: float = 0.0

    def start(self, timeout_s: float = 120.0) -> HubProcess:
        # stderr (logging, seeding progress) goes to a file: a full pipe would stall the hub.
        args = worker_args(self.broker_url, self.db_url, config=self.config)
        try:
            self.child = start_hub_worker(args, log_path=self.log_path, timeout_s=timeout_s, cwd=ROOT)
        except WorkerNotReady as exc:
            raise RuntimeError(f"the hub never became ready: {exc}") from None
        self.ready_s = self.child.ready_s or 0.0
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        self.child = None


@contextmanager
def running_hub(endpoint: Endpoint, workdir: Path) -> Iterator[HubProcess]:
    """Hub worker "1" on `endpoint` (its certificate and signing key on TLS), SQLite in
    `workdir`. The bench taps and scans back to back, far faster than a reader: the
    per-kiosk request rate limit (docs/security.md) is lifted so it measures latency,
    not the limit; and its `Returner` gives each session's books back at once, far faster
    than a chute takes them, so the chute-rate check is lifted too (`returns_per_minute`)."""
    config = endpoint.hub_config(
        "1", request_rate_per_s=10000.0, request_burst=10000, returns_per_minute=10_000
    )
    hub = HubProcess(
        endpoint.url, f"sqlite:///{workdir}/hub.sqlite", workdir / "hub.log", config
    ).start()
    try:
        yield hub
    finally:
        hub.stop()


# ---- views with timestamps ------------------------------------------------------------


@dataclass
class ViewLog:
    """Every view the runtime publishes, with the perf_counter time it was published."""

    views: list[tuple[float, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, view: Any) -> None:
        now = time.perf_counter()
        with self.changed:
            self.views.append((now, view))
            self.changed.notify_all()

    def mark(self) -> int:
        with self.changed:
            return len(self.views)

    def wait(self, pred: Callable[[Any], bool], since: int, timeout_s: float = 10.0) -> float:
        """perf_counter time of the first view at index >= `since` that satisfies `pred`."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            index = since
            while True:
                while index < len(self.views):
                    at, view = self.views[index]
                    if pred(view):
                        return at
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    last = self.views[-1][1] if self.views else None
                    raise TimeoutError(
                        f"no such view; last screen {getattr(last, 'screen', None)}, "
                        f"notice {getattr(last, 'notice', None)}"
                    )
                self.changed.wait(remaining)

    def current(self) -> Any:
        with self.changed:
            return self.views[-1][1] if self.views else None


def _screen(name: str) -> Callable[[Any], bool]:
    return lambda view: view.screen == name


def _loaned(barcode: str) -> Callable[[Any], bool]:
    def pred(view: Any) -> bool:
        return any(
            line.barcode == barcode and line.status == "loaned" and line.due for line in view.items
        )

    return pred


# ---- the kiosk ------------------------------------------------------------------------


@dataclass
class BenchKiosk:
    kiosk: Any
    views: ViewLog
    start_to_ready_s: float

    @property
    def runtime(self) -> Any:
        return self.kiosk.runtime

    def press(self, action: str, screen: str, timeout_s: float = 10.0) -> None:
        from contract.screens import Press

        mark = self.views.mark()
        if self.views.current().screen == screen:
            return
        self.runtime.post(Press(action))
        self.views.wait(_screen(screen), mark, timeout_s)

    def remove_card(self) -> None:
        """Lift the card and wait until the poller no longer sees it (removal polls)."""
        self.kiosk.rig.remove()
        reader = self.runtime.devices.card_reader
        deadline = time.monotonic() + 5
        while reader.present_uid is not None and time.monotonic() < deadline:
            time.sleep(0.005)

    def to_attract(self) -> None:
        """Whatever screen we are on, back to attract (finish twice at most)."""
        for _ in range(3):
            screen = self.views.current().screen
            if screen == "attract":
                return
            action = "cancel" if screen == "pin" else "finish"
            target = {"borrow": "summary", "summary": "attract", "pin": "attract"}.get(
                screen, "attract"
            )
            self.press(action, target)
        raise RuntimeError(f"stuck on screen {self.views.current().screen}")


def start_kiosk(
    broker_url: str,
    journal_path: Path,
    poll_interval_s: float | None = None,
    identity: Path | None = None,
) -> BenchKiosk:
    """Build and start the simulated kiosk; time build -> link online, devices ready.
    `identity` is its enrolment bundle (TLS files, the hub's public key), as
    `python -m kiosk_tools --identity DIR` takes it; None on a plain broker."""
    from firmware.config import enrolment_overrides, load_config
    from kiosk_tools.simulated import build_simulated_kiosk

    overrides: dict[str, Any] = {
        "hub.broker": broker_url,
        "kiosk.id": KIOSK_ID,
        "kiosk.library_id": LIBRARY_ID,
    }
    if identity is not None:
        overrides.update(enrolment_overrides(identity))
    elif broker_url.startswith("mqtt://"):
        # The plain pass, beside the TLS one: a lab setup, so PINs may cross it (a kiosk
        # sends no PIN over plain MQTT unless told to; docs/security.md).
        overrides["hub.pins_over_plain"] = True
    if poll_interval_s is not None:
        overrides["devices.card_reader.poll_interval_s"] = poll_interval_s
    views = ViewLog()
    started = time.perf_counter()
    kiosk = build_simulated_kiosk(load_config(None, overrides), journal_path=journal_path)
    kiosk.runtime.on_view(views)
    mark = views.mark()
    kiosk.start()
    views.wait(lambda v: v.online and v.screen == "attract", mark, 15)
    return BenchKiosk(kiosk, views, time.perf_counter() - started)


@dataclass(frozen=True)
class Reader:
    scheme: str
    number: str
    pin: str


def demo_readers() -> list[Reader]:
    """Valid demo readers who may borrow at the kiosk's library (not staff)."""
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    registry = load_registry()
    return [
        Reader(r.scheme, r.number, r.pin)
        for r in catalogue.generate_readers(registry)
        if r.state == "valid" and r.scheme in ("bj-joint", "nlc")
    ]


def shelf_items(count: int) -> list[str]:
    """`count` distinct on-shelf loanable barcodes, spread over many members
    (serials 1..STABLE_SERIALS of each member are on the shelf in every demo ledger)."""
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    registry = load_registry()
    stable = [
        i.barcode
        for i in catalogue.generate_items(registry, per_member=catalogue.STABLE_SERIALS)
        if i.state == "on_shelf" and i.loanable and i.hold_for is None
    ]
    # interleave members so consecutive scans hit different libraries' books
    per = catalogue.STABLE_SERIALS
    members = len(stable) // per
    ordered = [
        stable[m * per + s] for s in range(per) for m in range(members) if m * per + s < len(stable)
    ]
    return ordered[:count]


# ---- (1) tap -> greeting --------------------------------------------------------------


def measure_taps(bk: BenchKiosk, readers: list[Reader], n: int, direct: bool) -> dict[str, float]:
    """Seconds from a card tap to the PIN screen; `direct` posts CardPresented itself.

    A physical tap waits a random fraction of a poll interval first: the removal wait
    ends right after a poll, and tapping then would always cost a whole interval.
    """
    from drivers.events import CardPresented, CardRemoved
    from hal_sim.cards import library_card

    rig = bk.kiosk.rig
    interval = bk.runtime.devices.card_reader.interval_s
    phase = random.Random(2012)
    times: list[float] = []
    for k in range(n):
        card = readers[k % len(readers)]
        bk.to_attract()
        if not direct:
            time.sleep(phase.uniform(0, interval))
        mark = bk.views.mark()
        if direct:
            virtual = library_card(card.number)
            data = card.number.encode().ljust(48, b" ")
            t0 = time.perf_counter()
            bk.runtime.post(CardPresented(virtual.uid, data))
        else:
            t0 = time.perf_counter()
            rig.tap(card.number)
        t1 = bk.views.wait(_screen("pin"), mark)
        times.append(t1 - t0)
        bk.press("cancel", "attract")
        if direct:
            bk.runtime.post(CardRemoved(virtual.uid))
        else:
            bk.remove_card()
    return summary_ms(times)


# ---- (2) scan -> loaned with due date -------------------------------------------------


def wait_journal_acked(bk: BenchKiosk, timeout_s: float = 30.0) -> None:
    """Until every row of the kiosk's journal has the hub's (verified) ack. On the TLS
    broker nobody but the kiosk may read its ack topic, so the journal is the witness."""
    journal = bk.kiosk.journal
    deadline = time.monotonic() + timeout_s
    while journal.depth():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{journal.depth()} kiosk txn(s) never acked")
        time.sleep(0.005)


@dataclass
class Returner:
    """Another kiosk of the library (enrolled on TLS) returning the bench's books to the
    real hub between sessions, counting the acks on its own ack topic."""

    endpoint: Endpoint
    acked: set[str] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        from bench.kiosk_link import bench_client
        from contract import topics

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            txn_id = json.loads(msg.payload).get("txn_id")
            with self.cond:
                self.acked.add(txn_id)
                self.cond.notify_all()

        self.kiosk_id = f"bench-returner-{secrets.token_hex(3)}"
        self.client = bench_client(
            self.endpoint, self.kiosk_id, on_message, subscribe=topics.topic(self.kiosk_id, "ack")
        )
        self._n = 0

    def wait_for(self, txn_ids: set[str], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not txn_ids <= self.acked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(txn_ids - self.acked)} return(s) never acked")
                self.cond.wait(remaining)

    def return_items(self, barcodes: list[str]) -> None:
        """Return books as another kiosk would (QoS 1 txns to the real hub), wait for acks."""
        from contract import messages, topics

        ids = set()
        now = datetime.now(UTC)
        for barcode in barcodes:
            self._n += 1
            txn = messages.Txn(
                txn_id=f"{self.kiosk_id}-{self._n:08d}",
                kiosk_id=self.kiosk_id,
                library_id=LIBRARY_ID,
                kind="return",
                item=barcode,
                at=now,
                mode="online",
            )
            ids.add(txn.txn_id)
            self.client.publish(topics.topic(self.kiosk_id, "txn"), messages.encode(txn), qos=1)
        self.wait_for(ids)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure_scans(
    bk: BenchKiosk, returner: Returner, readers: list[Reader], items: list[str], per_session: int = 3
) -> dict[str, Any]:
    """Seconds from a desk scan to the book's line showing "loaned" with a due date.

    Books alternate between the pty scanner ("scanner") and BarcodeRead posted into the
    runtime ("event"). Sessions of `per_session` books keep every reader under the
    loan limit; after each session the kiosk's loans are committed and the books are
    returned by another kiosk so the next reader starts clean. "journal" counts the
    kiosk's journal rows by status at the end (all "acked": every loan committed, no
    exception, none rejected).
    """
    from contract.screens import PinEntered
    from drivers.events import BarcodeRead

    rig = bk.kiosk.rig
    by_way: dict[str, list[float]] = {"scanner": [], "event": []}
    k = 0
    session = 0
    while k < len(items):
        card = readers[session % len(readers)]
        session += 1
        bk.to_attract()
        mark = bk.views.mark()
        rig.tap(card.number)
        bk.views.wait(_screen("pin"), mark)
        mark = bk.views.mark()
        bk.runtime.post(PinEntered(card.pin))
        bk.views.wait(_screen("borrow"), mark)
        batch = items[k : k + per_session]
        for barcode in batch:
            way = "scanner" if k % 2 == 0 else "event"
            mark = bk.views.mark()
            t0 = time.perf_counter()
            if way == "scanner":
                rig.desk.scan(barcode)
            else:
                bk.runtime.post(BarcodeRead(barcode, "desk"))
            t1 = bk.views.wait(_loaned(barcode), mark)
            by_way[way].append(t1 - t0)
            k += 1
        bk.press("finish", "summary")
        bk.remove_card()
        bk.press("finish", "attract")
        wait_journal_acked(bk)
        returner.return_items(batch)
    result: dict[str, Any] = {way: summary_ms(times) for way, times in by_way.items()}
    result["journal"] = bk.kiosk.journal.counts()
    return result


def ledger_exceptions(db_path: Path, kiosk_ids: list[str]) -> dict[str, int]:
    """The hub ledger's exceptions (rows staff must look at) for these kiosks, by reason."""
    import sqlite3

    marks = ",".join("?" * len(kiosk_ids))
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            f"SELECT reason, count(*) FROM exceptions WHERE kiosk_id IN ({marks}) GROUP BY reason",
            kiosk_ids,
        ).fetchall()
    return {reason: n for reason, n in rows}


# ---- (3) backlog through the real hub -------------------------------------------------


def measure_backlog_real_hub(endpoint: Endpoint, n: int, timeout_s: float = 120.0) -> dict[str, float]:
    """n journal rows (offline returns of real catalogue books, so the hub does a real
    return for each) drained through HubLink into the real hub until every ack is in,
    vs a bare QoS 1 publish of n messages."""
    from bench.kiosk_link import measure_backlog_drain
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    books = [i.barcode for i in catalogue.generate_items(load_registry(), per_member=400)]
    return measure_backlog_drain(endpoint, n, acker=False, items=books[:n], timeout_s=timeout_s)


# ---- (4) kiosk process: RSS, idle CPU, start -> ready ---------------------------------

_CHILD = """
import json, os, sys, tempfile, time
t_proc = float(sys.argv[3])
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bench.kiosk_e2e import start_kiosk
with tempfile.TemporaryDirectory() as tmp:
    t_imported = time.time()
    bk = start_kiosk(sys.argv[2], Path(tmp) / "journal.sqlite3", identity=Path(sys.argv[5]) if sys.argv[5] else None)
    t_ready = time.time()
    time.sleep(1.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(float(sys.argv[4]))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    rss = hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    print("KIOSK-BENCH " + json.dumps({
        "build_to_ready_s": bk.start_to_ready_s,
        "exec_to_ready_s": t_ready - t_proc,
        "imports_s": t_imported - t_proc,
        "idle_cpu_s": cpu1 - cpu0,
        "idle_wall_s": wall1 - wall0,
        "rss_mb": rss / 1024,
        "peak_rss_mb": hwm / 1024,
        "threads": len(os.listdir("/proc/self/task")),
    }), flush=True)
    bk.kiosk.stop()
"""


def measure_kiosk_process(endpoint: Endpoint, idle_s: float = 10.0) -> dict[str, float]:
    """A kiosk alone in a child process: RSS, CPU seconds over `idle_s` idle, start -> ready
    (on TLS: the enrolled bench kiosk, its handshake and the hub key included)."""
    env = dict(os.environ)
    identity = endpoint.kiosk_bundle_dir(KIOSK_ID, LIBRARY_ID)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), endpoint.url, repr(time.time()), str(idle_s),
         str(identity or "")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=idle_s + 60,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("KIOSK-BENCH "):
            figures = json.loads(line.removeprefix("KIOSK-BENCH "))
            figures["idle_cpu_percent"] = 100 * figures["idle_cpu_s"] / figures["idle_wall_s"]
            return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    raise RuntimeError(f"kiosk child failed (exit {done.returncode}): {done.stderr[-1500:]}")


# ---- all of it ------------------------------------------------------------------------


def run_all(
    endpoint: Endpoint,
    *,
    taps: int = 100,
    scans: int = 100,
    backlog: int = 10_000,
    progress: Callable[[str], None] = lambda _s: None,
) -> dict[str, Any]:
    """Every end-to-end figure on one broker and one hub child; bare RTT baseline too
    (measured before the hub starts: the hub would answer the bare requests as well)."""
    from bench.kiosk_link import measure_bare_rtt

    results: dict[str, Any] = {"broker": endpoint.label}
    readers = demo_readers()
    items = shelf_items(2 * scans)
    progress("bare MQTT request/response round trip (baseline)")
    results["bare_rtt"] = measure_bare_rtt(endpoint)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        identity = endpoint.kiosk_bundle_dir(KIOSK_ID, LIBRARY_ID)
        with running_hub(endpoint, Path(tmp)) as hub:
            results["hub_ready_s"] = round(hub.ready_s, 3)
            bk = start_kiosk(endpoint.url, Path(tmp) / "journal.sqlite3", identity=identity)
            returner = Returner(endpoint)
            try:
                results["start_to_ready_in_process_s"] = round(bk.start_to_ready_s, 3)
                progress(f"card tap -> greeting, {taps} taps through the card reader (poll 0.1 s)")
                results["tap_physical"] = measure_taps(bk, readers, taps, direct=False)
                progress(f"card tap -> greeting, {taps} CardPresented events posted directly")
                results["tap_event"] = measure_taps(bk, readers, taps, direct=True)
                progress(f"scan -> book shown with due date, {2 * scans} books")
                scans_by_way = measure_scans(bk, returner, readers, items)
                results["scan_physical"] = scans_by_way["scanner"]
                results["scan_event"] = scans_by_way["event"]
                results["kiosk_journal"] = scans_by_way["journal"]
                results["ledger_exceptions"] = ledger_exceptions(
                    Path(tmp) / "hub.sqlite", [KIOSK_ID, returner.kiosk_id]
                )
            finally:
                returner.close()
                bk.kiosk.stop()
            progress("kiosk process: RSS, idle CPU over 10 s, start -> ready")
            results["kiosk_process"] = measure_kiosk_process(endpoint)
            progress(f"offline backlog of {backlog} txns through the real hub")
            try:
                results["backlog_real_hub"] = measure_backlog_real_hub(endpoint, backlog)
            except TimeoutError as exc:
                results["backlog_real_hub"] = {"skipped": f"did not finish: {exc}"}
    return results


if __name__ == "__main__":
    from bench.endpoints import secure_endpoint

    with secure_endpoint() as target:
        print(json.dumps(run_all(target, progress=print), indent=2))
