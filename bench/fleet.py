"""City scale: one hub worker and one TLS broker serving N enrolled kiosks (a fleet of 1,000).

    .venv/bin/python -m bench.fleet --kiosks 1000
    .venv/bin/python -m bench.fleet --kiosks 50 --json fleet.json

A private lab in a temporary directory (bench/fleet_lab.py): its own CA, its own TLS
broker on a free port, one `python -m hub` worker on a SQLite ledger seeded with the demo
catalogue, N kiosk identities each with its own certificate (enrolled in one batch:
`hub.pki.kiosk_certs.enroll_kiosks`), and N real kiosk links in this process
(bench/fleet_kiosks.py: a journal and `HubLink` each, verifying what the hub signs).

Phases, each timed, with a same-run baseline where there is one:
- baseline: one kiosk alone connects, then taps `reader_lookup` on an idle hub;
- (a) connect storm: all the others start at once; until every link is up, and until
  the hub's fleet view (`Ledger.fleet`, what `hub status` shows) has all N online;
- (b) steady state: telemetry from all N at the kiosks' interval compressed
  (`--telemetry-s`, 30 s in the field): hub worker CPU, broker CPU and RSS;
- (c) morning catch-up: all but the tap kiosk go offline, each journals `--txns`
  offline returns of real demo books of its library, all come back at once; until
  every row is acked: time, commits/s;
- (d) reader tap during (c): `reader_lookup` p50/p99 from the tap kiosk against the idle
  baseline (ratio);
- (e) broker restart: one more return at every kiosk, the broker SIGKILLed at once and
  started again; until all N are online again and every row is acked;
- (f) `python -m hub status` with N kiosks: wall time and lines, with `--problems`.

At the end every txn a kiosk journalled is looked up in the ledger: exit status 1 if an
acked one is missing, any is there twice, or any is still unacked. Every wait is bounded
(`--max-wait-s`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import proc_stats
from bench.fleet_hosts import KIOSKS_PER_HOST, Fleet
from bench.fleet_lab import FleetLab
from contract import messages
from hub.ledger import catalogue

# Where the kiosks stand, in turn: members that lend their own books to joint cards.
LIBRARIES = ("capital", "xicheng", "chaoyang", "haidian", "fengtai")
FIELD_TELEMETRY_S = 30.0  # HubLink's default: what a kiosk sends in the field


@dataclass
class Figure:
    phase: str
    what: str
    value: float | int | str | None
    baseline: float | int | str | None = None
    unit: str = ""

    @property
    def ratio(self) -> str:
        if isinstance(self.value, int | float) and isinstance(self.baseline, int | float) and self.baseline:
            return f"{self.value / self.baseline:.1f}x"
        return ""


@dataclass
class Outcome:
    kiosks: int
    figures: list[Figure] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    unacked: int = 0
    missing: int = 0  # acked, not in the ledger
    twice: int = 0  # in the ledger more than once
    duplicate_acks: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.twice or self.unacked)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.figures.append(Figure(*args, **kwargs))


def wait_until(test: Callable[[], bool], max_s: float, every_s: float = 0.1) -> float | None:
    """Seconds until `test()` held, or None after `max_s`."""
    started = time.perf_counter()
    while time.perf_counter() - started < max_s:
        if test():
            return round(time.perf_counter() - started, 2)
        time.sleep(every_s)
    return None


def shelf_books(lab: FleetLab) -> dict[str, list[str]]:
    """Each library's books on its shelf with no hold: a return of one goes to the shelf."""
    books: dict[str, list[str]] = {library: [] for library in LIBRARIES}
    for item in catalogue.generate_items(lab.registry):
        if item.home_library in books and item.state == "on_shelf" and item.hold_for is None:
            books[item.home_library].append(item.barcode)
    return books


def tap_card(lab: FleetLab) -> messages.CardRef:
    reader = next(
        r for r in catalogue.generate_readers(lab.registry) if r.scheme == "bj-joint" and r.state == "valid"
    )
    return messages.CardRef(scheme=reader.scheme, number=reader.number)


def percentile(times_ms: list[float], fraction: float) -> float | None:
    if not times_ms:
        return None
    ordered = sorted(times_ms)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def run(n: int, txns: int, telemetry_s: float, steady_s: float, tap_s: float, max_wait_s: float,
        log: Callable[[str], None]) -> Outcome:  # fmt: skip
    out = Outcome(n)
    with tempfile.TemporaryDirectory(prefix=f"fleet-{n}-") as tmp:
        workdir = Path(tmp)
        lab = FleetLab(workdir)
        fleet: Fleet | None = None
        results: list[tuple[list[str], dict[str, str], int]] = []
        try:
            ids = [f"fleet-{i:04d}" for i in range(n)]
            enrolled = lab.enrol(ids, [LIBRARIES[i % len(LIBRARIES)] for i in range(n)])
            out.add("setup", "enrol N kiosks (own EC certificate each)", round(enrolled.seconds, 2), unit="s")
            out.add("setup", "seed demo ledger", round(lab.seed_ledger(), 2), unit="s")
            broker = lab.start_broker()
            started = time.perf_counter()
            lab.start_worker()
            out.add("setup", "hub worker ready", round(time.perf_counter() - started, 2), unit="s")
            started = time.perf_counter()
            fleet = Fleet(enrolled.bundles, workdir / "journals", lab.lab.pki.hub_signing_pub)
            fleet.stats()  # every host has opened its journals
            out.add("setup", f"{fleet.hosts} kiosk host process(es) with their journals",
                    round(time.perf_counter() - started, 2), unit="s")  # fmt: skip
            card = tap_card(lab)
            tap_id = ids[0]

            def links_up(count: int) -> Callable[[], bool]:
                return lambda: fleet.status()[0] >= count  # type: ignore[union-attr]

            def all_acked() -> bool:
                return fleet.status()[1] == 0  # type: ignore[union-attr]

            # ---- baseline: one kiosk alone, an idle hub ----
            since = datetime.now(UTC)
            started = time.perf_counter()
            fleet.connect(broker.url, telemetry_s, "tap")
            one_link = wait_until(links_up(1), max_wait_s)
            one_hub = wait_until(lambda: lab.online_since([tap_id], since) == 1, max_wait_s)
            cpu0, t0 = lab.hub_cpu_s(), time.perf_counter()
            fleet.tap_start(card.scheme, card.number)
            time.sleep(tap_s)
            idle, idle_failed = fleet.tap_stop()
            idle_cpu = (lab.hub_cpu_s() - cpu0) / (time.perf_counter() - t0)
            idle_broker_rss = lab.broker_rss_mb()
            log(f"fleet {n}: baseline up in {one_link}s, tap p50 {percentile(idle, 0.5)} ms")

            # ---- (a) connect storm ----
            since, started = datetime.now(UTC), time.perf_counter()
            fleet.connect(broker.url, telemetry_s, "others")
            start_s = time.perf_counter() - started
            links_s = wait_until(links_up(n), max_wait_s, 0.2)
            hub_s = wait_until(lambda: lab.online_since(ids, since) >= n - 1, max_wait_s, 0.5)
            out.add("a storm", "start N-1 links", round(start_s, 2), unit="s")
            out.add("a storm", "all N links up", _after(start_s, links_s), one_link, "s")
            out.add("a storm", "all N online in the hub's fleet view", _after(start_s, links_s, hub_s), one_hub, "s")
            stats = fleet.stats()
            out.add("a storm", "per kiosk host: kiosks / threads / RSS MiB / fds",
                    f"{min(n, KIOSKS_PER_HOST)} / {stats[0][0]} / {stats[0][1]} / {stats[0][2]}")  # fmt: skip
            pid = broker.pid or 0
            out.add("a storm", "broker: RSS MiB / open fds", f"{lab.broker_rss_mb()} / {proc_stats.open_fds(pid)}",
                    f"{idle_broker_rss} / -")  # fmt: skip
            log(f"fleet {n}: storm: links up {links_s}s, hub view {hub_s}s")

            # ---- (b) steady state ----
            time.sleep(min(telemetry_s, 5.0))  # past the storm's own traffic
            cpu0, bcpu0, t0 = lab.hub_cpu_s(), lab.broker_cpu_s(), time.perf_counter()
            fleet.tap_start(card.scheme, card.number)
            time.sleep(steady_s)
            steady, _ = fleet.tap_stop()
            window = time.perf_counter() - t0
            hub_cpu = (lab.hub_cpu_s() - cpu0) / window
            msgs_per_s = n / telemetry_s
            out.add("b steady", f"telemetry msgs/s (every {telemetry_s:g} s, field {FIELD_TELEMETRY_S:g} s)",
                    round(msgs_per_s, 1), round(n / FIELD_TELEMETRY_S, 1))  # fmt: skip
            out.add("b steady", "hub worker CPU %", round(100 * hub_cpu, 1), round(100 * idle_cpu, 1), "%")
            out.add("b steady", "hub CPU ms per telemetry msg", round(1000 * max(0.0, hub_cpu - idle_cpu) / msgs_per_s, 2))
            out.add("b steady", "broker CPU %", round(100 * (lab.broker_cpu_s() - bcpu0) / window, 1), unit="%")
            out.add("b steady", "broker RSS MiB", lab.broker_rss_mb(), idle_broker_rss)
            out.add("b steady", "hub worker RSS MiB", lab.hub_rss_mb())
            out.add("b steady", "reader tap p50 ms (baseline: idle)", percentile(steady, 0.5), percentile(idle, 0.5), "ms")

            # ---- (c) morning catch-up, (d) the reader tap during it ----
            started = time.perf_counter()
            fleet.go_offline("others")
            out.add("c catch-up", "N-1 kiosks stop cleanly", round(time.perf_counter() - started, 2), unit="s")
            books = shelf_books(lab)
            fleet.record_returns(books, txns, datetime.now(UTC) - timedelta(seconds=txns + 1), 1.0)
            expected = (n - 1) * txns
            rows0 = lab.txn_rows()
            since, started = datetime.now(UTC), time.perf_counter()
            fleet.tap_start(card.scheme, card.number)
            cpu0 = lab.hub_cpu_s()
            # From here on at the field's interval: the catch-up and the restart measure
            # the backlog and the reconnects, not the compressed telemetry of (b).
            fleet.connect(broker.url, FIELD_TELEMETRY_S, "others")
            acked_s = wait_until(all_acked, max_wait_s, 0.2)
            elapsed = time.perf_counter() - started
            during, during_failed = fleet.tap_stop()
            rows = lab.txn_rows() - rows0
            out.add("c catch-up", f"{expected} offline returns ({txns} per kiosk) all acked",
                    round(elapsed, 2) if acked_s is not None else None, unit="s")  # links started included
            out.add("c catch-up", "ledger commits/s", round(rows / elapsed, 1) if acked_s else None)
            out.add("c catch-up", "hub worker CPU % (of one core)", round(100 * (lab.hub_cpu_s() - cpu0) / elapsed, 1), unit="%")
            out.add("c catch-up", "online again in the hub's view", lab.online_since(ids[1:], since), n - 1)
            out.add("d tap", "reader_lookup p50 ms during catch-up", percentile(during, 0.5), percentile(idle, 0.5), "ms")
            out.add("d tap", "reader_lookup p99 ms during catch-up", percentile(during, 0.99), percentile(idle, 0.99), "ms")
            out.add("d tap", "lookups answered / failed", f"{len(during)} / {during_failed}", f"{len(idle)} / {idle_failed}")
            log(f"fleet {n}: catch-up {expected} rows acked in {acked_s}s; tap p99 {percentile(during, 0.99)} ms")

            # ---- (e) broker restart ----
            fleet.record_returns(books, 1, datetime.now(UTC), 1.0, "all")
            broker.kill()
            at_kill = fleet.status()[1]
            started = time.perf_counter()
            broker.start()
            since = datetime.now(UTC)
            restart_s = time.perf_counter() - started
            links_s = wait_until(links_up(n), max_wait_s, 0.2)
            hub_s = wait_until(lambda: lab.online_since(ids, since) >= n, max_wait_s, 0.5)
            acked_s = wait_until(all_acked, max_wait_s, 0.2)
            out.add("e restart", "broker SIGKILLed and started again", round(restart_s, 2), unit="s")
            out.add("e restart", "unacked txns at the kill", at_kill, n)
            out.add("e restart", "all N links up again", links_s, one_link, "s")
            out.add("e restart", "all N online in the hub's view", _after(links_s, hub_s), one_hub, "s")
            out.add("e restart", "every unacked txn acked", _after(links_s, hub_s, acked_s), unit="s")
            log(f"fleet {n}: restart: links {links_s}s, hub view {hub_s}s, acked {acked_s}s")

            # ---- (f) hub status with N kiosks ----
            seconds, text = lab.hub_status()
            out.add("f status", "python -m hub status: s / lines", f"{seconds:.2f} / {len(text.splitlines())}")
            seconds, text = lab.hub_status("--json")
            online = sum(1 for r in json.loads(text)["kiosks"] if r["effective_state"] == "online")
            out.add("f status", "hub status --json: s / kiosks online", f"{seconds:.2f} / {online}", n)
            seconds, text = lab.hub_status("--problems")
            out.add("f status", "hub status --problems: s / lines", f"{seconds:.2f} / {len(text.splitlines())}")
            out.add("f status", "its summary line", text.strip().splitlines()[-1] if text.strip() else "")
        finally:
            if fleet is not None:
                results = fleet.close()
            log_file = workdir / "hub-worker.log"
            worker_log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            lab.close()
            _audit(out, results, lab)
        if not out.ok:
            log(f"fleet {n}: hub worker log (tail):\n{worker_log}")
    return out


def _after(*parts: float | None) -> float | None:
    """The time from the phase's start to the last of its steps, each timed from the
    one before (None when any did not happen)."""
    if any(p is None for p in parts):
        return None
    return round(sum(p for p in parts if p is not None), 2)


def _audit(out: Outcome, results: list[tuple[list[str], dict[str, str], int]], lab: FleetLab) -> None:
    """Every journalled txn against the ledger: acked ones must be there exactly once."""
    from hub.ledger.ledger import Ledger

    recorded = [txn_id for ids, _acks, _dups in results for txn_id in ids]
    acked = {txn_id for _ids, acks, _dups in results for txn_id in acks}
    with Ledger.open(lab.db_url) as led:
        counts = led.ledger_counts(recorded)
    out.sent = len(recorded)
    out.acked = len(acked)
    out.unacked = len(set(recorded) - acked)
    out.missing = sum(1 for txn_id in acked if counts.get(txn_id, 0) == 0)
    out.twice = sum(1 for n in counts.values() if n > 1)
    out.duplicate_acks = sum(dups for _ids, _acks, dups in results)


def table(outcome: Outcome) -> str:
    rows = [("phase", "measure", f"N={outcome.kiosks}", "baseline", "ratio")]
    rows += [(f.phase, f.what, _cell(f.value, f.unit), _cell(f.baseline, f.unit), f.ratio) for f in outcome.figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(
        f"ledger: {outcome.sent} txns journalled, {outcome.acked} acked, {outcome.unacked} unacked, "
        f"{outcome.missing} acked but missing, {outcome.twice} committed twice, "
        f"{outcome.duplicate_acks} duplicate acks (repeats the ledger absorbed)"
    )
    return "\n".join(lines)


def _cell(value: object, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value} {unit}".strip() if isinstance(value, int | float) else str(value)


def _exit_on_term(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", type=int, default=1000, help="fleet size N (default 1000)")
    parser.add_argument("--txns", type=int, default=10, help="offline returns per kiosk in the catch-up (default 10)")
    parser.add_argument("--telemetry-s", type=float, default=5.0,
                        help=f"telemetry interval, compressed (default 5; the field's is {FIELD_TELEMETRY_S:g})")
    parser.add_argument("--steady-s", type=float, default=10.0, help="steady-state window (default 10)")
    parser.add_argument("--tap-s", type=float, default=5.0, help="idle reader-tap baseline (default 5)")
    parser.add_argument("--max-wait-s", type=float, default=180.0, help="bound on every wait (default 180)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # 1,000 links going down and up is the point
    signal.signal(signal.SIGTERM, _exit_on_term)  # a stopped bench still stops its broker and worker

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcome = run(args.kiosks, args.txns, args.telemetry_s, args.steady_s, args.tap_s, args.max_wait_s, log)
    print(table(outcome))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(outcome), indent=2, ensure_ascii=False))
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
