"""What every end-to-end figure runs on: a `python -m hub` child, the simulated kiosk
built in this process (hal_sim rig under the real drivers) with every view it
publishes timestamped, another kiosk that gives the bench's books back, the demo
readers and shelf books, and the witnesses a run checks (the kiosk's journal acked,
the ledger's exceptions). The measurements are bench.kiosk_e2e and bench.kiosk_process.
"""

from __future__ import annotations

import contextlib
import json
import secrets
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


def on_screen(name: str) -> Callable[[Any], bool]:
    return lambda view: view.screen == name


def shows_loaned(barcode: str) -> Callable[[Any], bool]:
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
        self.views.wait(on_screen(screen), mark, timeout_s)

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
    """`count` distinct on-shelf loanable barcodes, spread over the members that lend
    (serials 1..STABLE_SERIALS of each member are on the shelf in every demo ledger; a
    member that lends nothing, the National Library now, lends none of its books)."""
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    registry = load_registry()
    stable = [
        i.barcode
        for i in catalogue.generate_items(registry, per_member=catalogue.STABLE_SERIALS)
        if i.state == "on_shelf" and i.loanable and i.hold_for is None
        and registry.members[i.home_library].lends
    ]
    # interleave members so consecutive scans hit different libraries' books
    per = catalogue.STABLE_SERIALS
    members = len(stable) // per
    ordered = [
        stable[m * per + s] for s in range(per) for m in range(members) if m * per + s < len(stable)
    ]
    return ordered[:count]


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
