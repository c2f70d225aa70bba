"""Chaos soak (`make soak`): readers lend and return books at six kiosks while hub
workers, the broker, kiosks' routes and power, and Dongcheng's own library system fail
at random, then the end is judged (bench.chaos_verdict).

    python -m bench.chaos --minutes 5 --seed 2012

The parts, each in a module of its own:
- bench.chaos_rig: the alliance as real processes (TLS broker, hub workers, `ils_sim`
  over SIP2, kiosks in child processes behind cuttable routes, PostgreSQL with
  `--postgres`);
- bench.chaos_schedule: the faults, drawn from the seed before the run starts;
- bench.soak_order.World: the readers (a book lent at any kiosk, returned at one of its
  home library; Dongcheng's books go through its SIP2 system);
- bench.chaos_verdict: the invariants, from the journals, the ledger and the logs.

Prints the seed and the whole schedule first, a line per fault as it is injected and as
it ends, counts every 30 s, and the verdict. Exit status 1 when an invariant is broken
(or the rig itself failed); rerun with the same `--seed`, `--minutes`,
`--faults-per-minute` and `--workers` to replay the same schedule.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.chaos_rig import Rig
from bench.chaos_schedule import HOLD_S, KINDS, Fault, as_json, schedule
from bench.chaos_verdict import Verdict, judge
from bench.soak_order import World, soak_books, soak_readers
from hub.ledger.ledger import Ledger
from hub.ledger.ledger_sql import LedgerUrlError
from hub.rules.registry import load_registry

RATE_PER_S = 25.0  # txns the world makes per second, all kiosks together
PROGRESS_EVERY_S = 30.0


class Chaos:
    """Starts and ends the faults of a schedule on a running rig, one line each."""

    def __init__(self, rig: Rig, faults: list[Fault], say: Callable[[str], None]) -> None:
        self.rig, self.say = rig, say
        self.waiting = list(faults)
        self.ends: list[tuple[float, Fault, Callable[[], None]]] = []
        self.done: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.broker_faults = 0
        self.down_workers: set[int] = set()
        self.black_holed: dict[int, float] = {}  # kiosk -> monotonic time its route died
        self.unplanned_deaths: list[str] = []

    def tick(self, elapsed_s: float) -> None:
        now = time.monotonic()
        for end in [e for e in self.ends if e[0] <= now]:
            self.ends.remove(end)
            end[2]()
        while self.waiting and self.waiting[0].at_s <= elapsed_s:
            self._start(self.waiting.pop(0), elapsed_s)
        self._watch_routes()
        self._watch_workers()

    def end_all(self) -> None:
        """End every fault still on (before the drain), in the order they would have ended;
        a power cut still waiting for its kiosk's next row is called off."""
        for kiosk in self.rig.kiosks:
            kiosk.cut_after_next_record(None)
        for _at, _fault, action in sorted(self.ends, key=lambda e: e[0]):
            action()
        self.ends.clear()

    # ---- the kinds ----

    def _start(self, fault: Fault, elapsed_s: float) -> None:
        rig, at = self.rig, f"t+{elapsed_s:5.1f}s"
        until = time.monotonic() + fault.hold_s
        if fault.kind == "worker":
            alive = [i for i in range(len(rig.workers)) if i not in self.down_workers]
            if not alive:
                self._skip(fault, at, "every worker is already down")
                return
            # Never one already killed and waiting: two processes under one name duel.
            index = fault.target if fault.target in alive else alive[0]
            worker = rig.workers[index]
            worker.kill()
            self.down_workers.add(index)
            self.say(f"{at} FAULT worker {worker.name}: SIGKILL; restart in {fault.hold_s:.1f}s")

            def restart() -> None:
                worker.launch()
                self.down_workers.discard(index)
                self.say(f"       end   worker {worker.name}: restarted")

            self.ends.append((until, fault, restart))
        elif fault.kind == "broker":
            assert rig.broker is not None
            if not rig.broker.running:
                self._skip(fault, at, "the broker is already down")
                return
            self.broker_faults += 1
            how = "clean stop" if self.broker_faults == 1 else "SIGKILL"
            rig.broker.stop() if self.broker_faults == 1 else rig.broker.kill()
            self.say(f"{at} FAULT broker: {how}; restart in {fault.hold_s:.1f}s")

            def broker_back() -> None:
                assert rig.broker is not None
                rig.broker.start()
                self.say("       end   broker: restarted")

            self.ends.append((until, fault, broker_back))
        elif fault.kind == "route":
            kiosk = rig.kiosks[fault.target]
            if kiosk.route.state != "up":
                self._skip(fault, at, f"{kiosk.kiosk_id}'s route is already down")
                return
            connected = kiosk.serving and kiosk.stats()["connected"]
            kiosk.route.down()
            if connected:  # else there is nothing for it to notice
                self.black_holed[fault.target] = time.monotonic()
            self.say(f"{at} FAULT route {kiosk.kiosk_id}: black hole for {fault.hold_s:.1f}s"
                     + ("" if connected else " (it was not connected)"))  # fmt: skip

            def route_back() -> None:
                noticed = self.black_holed.pop(fault.target, None)
                kiosk.route.up()
                note = " (the kiosk had not noticed)" if connected and noticed is not None else ""
                self.say(f"       end   route {kiosk.kiosk_id}: up{note}")

            self.ends.append((until, fault, route_back))
        elif fault.kind == "power":
            kiosk = rig.kiosks[fault.target]
            if not kiosk.serving:
                self._skip(fault, at, f"{kiosk.kiosk_id} has no power already")
                return
            waiting = kiosk.stats()["depth"]

            def power_back() -> None:
                kiosk.boot()
                self.say(f"       end   power {kiosk.kiosk_id}: booted on its journal ({kiosk.boots} boots)")

            def cut() -> None:
                self.say(f"{at} FAULT power {kiosk.kiosk_id}: SIGKILL just after journalling a row, "
                         f"{waiting} more unacked; boot in {fault.hold_s:.1f}s")  # fmt: skip
                self.ends.append((time.monotonic() + fault.hold_s, fault, power_back))
                self.done["power"] += 1

            kiosk.cut_after_next_record(cut)
            return  # counted when the cut happens
        elif fault.kind == "ils":
            if not rig.ils.running:
                self._skip(fault, at, "the ILS is already down")
                return
            rig.ils.kill()
            self.say(f"{at} FAULT ils east: SIGKILL with {ils_owed(rig.db_url)} call(s) queued; "
                     f"restart in {fault.hold_s:.1f}s")  # fmt: skip

            def ils_back() -> None:
                owed = ils_owed(rig.db_url)
                rig.ils.start()
                self.say(f"       end   ils east: restarted with {owed} call(s) queued")

            self.ends.append((until, fault, ils_back))
        elif fault.kind == "database":
            assert rig.postgres is not None
            if not rig.postgres.running:
                self._skip(fault, at, "the database is already down")
                return
            rig.postgres.crash()
            self.say(f"{at} FAULT database: PostgreSQL crashed (immediate stop); restart in {fault.hold_s:.1f}s")

            def database_back() -> None:
                assert rig.postgres is not None
                rig.postgres.restart()
                self.say("       end   database: PostgreSQL restarted")

            self.ends.append((until, fault, database_back))
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        self.done[fault.kind] += 1

    def _skip(self, fault: Fault, at: str, why: str) -> None:
        self.skipped[fault.kind] += 1
        self.say(f"{at} skip  {fault.kind}: {why}")

    def _watch_routes(self) -> None:
        for index, since in list(self.black_holed.items()):
            kiosk = self.rig.kiosks[index]
            if kiosk.serving and not kiosk.connected:
                self.black_holed.pop(index)
                self.say(f"       {kiosk.kiosk_id} noticed its dead route after {time.monotonic() - since:.1f}s")

    def _watch_workers(self) -> None:
        for index, worker in enumerate(self.rig.workers):
            if index in self.down_workers or worker.child is None or worker.child.running:
                continue
            self.unplanned_deaths.append(worker.name)
            self.say(f"       UNPLANNED: hub worker {worker.name} died (exit {worker.child.proc.returncode}); "
                     "restarting it")  # fmt: skip
            worker.launch()


def ils_owed(db_url: str) -> int | str:
    """Calls the hub still owes a member's system (`ils_queue` rows queued); "?" while the
    ledger's PostgreSQL is down (a `database` fault): the soak's own count must not end it."""
    try:
        with Ledger.open(db_url) as led:
            return sum(link.queued for link in led.ils_links())
    except LedgerUrlError:
        return "?"


def run(minutes: float, seed: int, faults_per_minute: float, n_workers: int, drain_s: float,
        postgres: bool, say: Callable[[str], None], kinds: tuple[str, ...] = KINDS,
        keep: Path | None = None) -> Verdict:  # fmt: skip
    """One chaos soak; its verdict. Raises when the rig itself cannot start. With `keep`,
    the run's files (ledger, journals, logs) are left in a new directory under it."""
    making_s = minutes * 60
    planned = schedule(seed, making_s, max(len(kinds), round(faults_per_minute * minutes)), kinds, n_workers, 6)
    say(f"chaos soak: seed {seed}, {minutes:g} min of txns at {RATE_PER_S:g}/s, {n_workers} hub worker(s), "
        f"ledger {'PostgreSQL' if postgres else 'SQLite'}, {len(planned)} faults; drain at most {drain_s:g}s")  # fmt: skip
    say(f"replay: python -m bench.chaos --minutes {minutes:g} --seed {seed} --faults-per-minute {faults_per_minute:g} "
        f"--workers {n_workers}{' --postgres' if postgres else ''}"
        + ("" if set(kinds) == set(KINDS) | ({"database"} if postgres else set()) else f" --kinds {','.join(kinds)}"))  # fmt: skip
    say("schedule: " + as_json(planned))
    started = time.monotonic()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    place = contextlib.nullcontext(tempfile.mkdtemp(prefix="chaos-", dir=keep)) if keep else tempfile.TemporaryDirectory(prefix="chaos-")
    with place as tmp:
        rig = Rig(Path(tmp), n_workers, postgres=postgres)
        try:
            rig.start()
            say(f"t+  0.0s rig up in {time.monotonic() - started:.1f}s: broker, {n_workers} worker(s), ils east, "
                f"{len(rig.kiosks)} kiosks")  # fmt: skip
            chaos = Chaos(rig, planned, say)
            world = World(rig.kiosks, soak_books(load_registry()), random.Random(seed))  # type: ignore[arg-type]
            t0 = time.monotonic()
            next_progress = PROGRESS_EVERY_S
            while (elapsed := time.monotonic() - t0) < making_s:
                chaos.tick(elapsed)
                if elapsed >= next_progress:
                    next_progress += PROGRESS_EVERY_S
                    say(progress(elapsed, world.made, chaos, rig))
                world.step()
                due = t0 + world.made / RATE_PER_S
                lag = time.monotonic() - due
                if lag > 1.0:  # after a blocking boot: carry on at the rate, no burst
                    t0 += lag
                time.sleep(max(0.0, due - time.monotonic()))
            chaos.end_all()
            say(f"t+{time.monotonic() - t0:5.1f}s {world.made} txns made; faults {dict(chaos.done)}; draining")
            drain_until = time.monotonic() + drain_s
            while time.monotonic() < drain_until:
                chaos.tick(making_s)
                waiting, owed = sum(k.stats()["depth"] for k in rig.kiosks), ils_owed(rig.db_url)
                if not waiting and not owed:
                    break
                time.sleep(0.5)
            say(f"drained in {drain_s - max(0.0, drain_until - time.monotonic()):.1f}s: "
                f"{sum(k.stats()['depth'] for k in rig.kiosks)} row(s) unacked, {ils_owed(rig.db_url)} ILS call(s) owed; "
                f"duplicate acks {sum(k.acks['duplicate'] + k.stats()['acks'].get('duplicate', 0) for k in rig.kiosks)}")  # fmt: skip
            codes = rig.close()
            cards = [card.number for card in soak_readers()]
            verdict = judge(rig.db_url, [k.path for k in rig.kiosks], rig.logs(), codes, chaos.unplanned_deaths,
                            cards, rig.ils.state_file,
                            ("psycopg.OperationalError",) if chaos.done["database"] else ())  # fmt: skip
        finally:
            rig.close()
            rig.close_database()
        if not chaos.done.keys() >= set(kinds):
            verdict.fail("faults", f"kinds never injected: {sorted(set(kinds) - chaos.done.keys())}")
    for line in verdict.lines():
        say(line)
    say(f"faults injected {dict(chaos.done)}, skipped {dict(chaos.skipped)}; txns made {world.made}; "
        f"{time.monotonic() - started:.0f}s; seed {seed}")  # fmt: skip
    if keep is not None:
        say(f"files kept in {tmp}")
    return verdict


def progress(elapsed: float, made: int, chaos: Chaos, rig: Rig) -> str:
    waiting = sum(k.stats()["depth"] for k in rig.kiosks if k.serving)
    return (f"t+{elapsed:5.1f}s progress: {made} txns, faults {dict(chaos.done)}, journals waiting {waiting}, "
            f"ILS owed {ils_owed(rig.db_url)}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long readers make txns (default 5)")
    parser.add_argument("--seed", type=int, default=2012, help="draws the faults and the readers (default 2012)")
    parser.add_argument("--faults-per-minute", type=float, default=8.0, help="default 8; each kind at least once")
    parser.add_argument("--workers", type=int, default=2, help="hub worker processes (default 2)")
    parser.add_argument("--drain-s", type=float, default=90.0, help="bound on the drain after the faults")
    parser.add_argument("--postgres", action="store_true",
                        help="the ledger on a private PostgreSQL cluster, crashed and restarted as a fault kind")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the run's ledger, journals and logs in a new directory under DIR")
    parser.add_argument("--kinds", help=f"fault kinds, comma-separated (default {','.join(KINDS)}, "
                        "and database with --postgres)")  # fmt: skip
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k) if args.kinds else KINDS + (("database",) if args.postgres else ())
    if not set(kinds) <= set(HOLD_S):
        parser.error(f"unknown fault kinds: {sorted(set(kinds) - set(HOLD_S))}")
    if "database" in kinds and not args.postgres:
        parser.error("the database fault needs --postgres")
    logging.basicConfig(level=logging.ERROR)

    def say(line: str) -> None:
        print(line, flush=True)

    verdict = run(args.minutes, args.seed, args.faults_per_minute, args.workers, args.drain_s, args.postgres, say,
                  kinds=kinds, keep=args.keep)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
