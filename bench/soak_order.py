"""Ordering soak (issue 9): does the ledger end where the readers were told, with 1, 2, 4
hub workers killed at random and the broker restarted under load?

    .venv/bin/python -m bench.soak_order --workers 1,2,4 --txns 3000 --kills 20

For each worker count, on loopback only, in a temporary directory:
- the secure setup, as deployed (`hub.lab.lab`): a local CA, its TLS broker (client
  certificates, the roles), and N `python -m hub --worker wK` processes, each with its
  own worker certificate and the signing key, on one SQLite ledger (demo catalogue plus
  soak readers, seeded before they start); `--plain` runs the old anonymous broker
  instead, nothing signed;
- several kiosks, each enrolled (its own certificate) and running the real hub link
  (`firmware.hub_link.HubLink`, verifying what the hub signs) over a real journal. A single "world" lends and returns books at random kiosks, as readers walk
  from one to another: a book on the shelf is lent (offline, so the hub takes it as
  done) to a reader with room for it, a lent book is returned, often at another kiosk.
  Each row is journalled before the next is made, with a later `at`, so the journals
  hold what readers were told and in what order. Kiosks go offline for a few seconds
  now and then (their link stopped) and come back with a backlog;
- `--kills` times, at random moments, a hub worker is SIGKILLed and restarted under its
  name after up to 2 s; `--broker-restarts` times the broker is restarted (first
  cleanly, then SIGKILLed, which loses what it had not saved).
When the world has made its txns, the kiosks drain (bounded), and the journals are
compared with the ledger (`kiosk_tools.told_audit`).

Printed per worker count: txns sent, committed (ledger rows, each must be 1), duplicate
acks (rows whose first verified ack said `duplicate`: a repeat the ledger absorbed; on
the TLS broker only a kiosk may read its acks, so the kiosks' links count them), rows
never answered, books whose final state is
not what readers were last told, readers whose open loans are not the books they were
lent and have not returned. Exit status 1 when any count that must be 0 is not.
Each worker count is bounded by `--max-s` (default 170 s).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from contract import messages, signing
from contract.check_digits import luhn_check_digit
from firmware.core.events import TxnAcked
from firmware.hub_link import HubLink
from firmware.hub_link.connection import TlsFiles
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.pki.pin_pepper import write_pepper_file
from hub.rules.registry import load_registry
from hub.rules.rules import ReaderRecord
from hub.worker.worker_process import WorkerNotReady, WorkerProcess, launch_hub_worker, worker_args
from kiosk_tools.told_audit import audit, journal_events, known_cards, last_told

ROOT = Path(__file__).resolve().parents[1]
# Where the kiosks stand, one kiosk per entry: two libraries have two kiosks each.
LIBRARIES = ("capital", "capital", "xicheng", "xicheng", "dongcheng", "chaoyang")
READERS = 200
MAX_LOANS = 4  # per reader: under every scheme's limit, so no loan is refused for it
# The soak's world is faster than readers: its kiosks "lend offline" while connected and
# books cross town in milliseconds. The hub's plausibility checks (docs/security.md,
# "What a kiosk claims") would hold those for staff; off here, so the soak measures
# ordering alone.
SOAK_HUB: dict[str, object] = {
    "offline_presence_margin_s": 0, "offline_max_items": 100, "offline_loans_per_kiosk_hour": 100_000,
    "return_min_interval_s": 0, "returns_per_minute": 10_000,
}  # fmt: skip


def _plain_config(workdir: Path, name: str, pepper: Path) -> Path:
    """A `[hub]` file of SOAK_HUB for a worker on the plain broker, with the PIN pepper
    file (a hub will not keep its pepper in the ledger)."""
    path = workdir / f"hub-{name}.toml"
    lines = [f'pin_pepper_file = "{pepper}"', *(f"{key} = {value}" for key, value in SOAK_HUB.items())]
    path.write_text("[hub]\n" + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


RATE_PER_S = 60.0  # txns the world makes per second, all kiosks together


# ---- hub workers -----------------------------------------------------------------------


class Worker:
    """`python -m hub --worker NAME` as a child (hub/worker/worker_process.py), ready when it
    says READY."""

    def __init__(self, name: str, broker_url: str, db_url: str, log: Path, config: Path | None = None) -> None:
        self.name, self.broker_url, self.db_url, self.log = name, broker_url, db_url, log
        self.config = config  # the lab's hub-NAME.toml on TLS: certificate, signing key, PKI
        self.child: WorkerProcess | None = None

    def launch(self) -> None:
        args = worker_args(self.broker_url, self.db_url, self.name, self.config)
        self.child = launch_hub_worker(args, log_path=self.log, cwd=ROOT)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        assert self.child is not None
        try:
            self.child.wait_ready(timeout_s)
        except WorkerNotReady as exc:
            raise RuntimeError(f"hub worker {self.name} not ready: {exc}") from None

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


# ---- kiosks ------------------------------------------------------------------------------


class Kiosk:
    """A journal and the real hub link over it; the link can be cut and brought back.
    On TLS it is enrolled in `lab` (its own certificate) and verifies what the hub signs."""

    def __init__(self, kiosk_id: str, library: str, broker_url: str, workdir: Path, lab: Lab | None = None) -> None:
        self.kiosk_id, self.library, self.broker_url = kiosk_id, library, broker_url
        self.path = workdir / f"{kiosk_id}.sqlite3"
        self.journal = Journal.open(self.path)
        self.ids = TxnIdFactory(kiosk_id, None)
        self.link: HubLink | None = None
        self.back_at = 0.0  # monotonic time to reconnect, while offline
        self.ack_results: Counter[str] = Counter()  # of the acks that settled a row
        self.tls: TlsFiles | None = None
        self.hub_key: signing.Ed25519PublicKey | None = None
        if lab is not None:
            bundle = lab.kiosk(kiosk_id, library)
            self.tls = TlsFiles(ca=bundle.ca, cert=bundle.cert, key=bundle.key)
            self.hub_key = signing.load_public_key(lab.pki.hub_signing_pub)

    def _on_event(self, event: object) -> None:
        if isinstance(event, TxnAcked):
            self.ack_results[event.ack.result] += 1

    def connect(self) -> None:
        self.link = HubLink(
            self.broker_url, self.kiosk_id, self.library, self._on_event,
            firmware_version="soak", journal=self.journal, fetch_blocklist=False,
            tls=self.tls, hub_public_key=self.hub_key,
        )  # fmt: skip
        self.link.start()

    def go_offline(self, for_s: float) -> None:
        if self.link is not None:
            self.link.stop(timeout=0.5)
            self.link = None
        self.back_at = time.monotonic() + for_s

    @property
    def serving(self) -> bool:
        """Readers can use it (always: the ordering soak cuts links, not power)."""
        return True

    @property
    def online(self) -> bool:
        return self.link is not None

    def record(self, txn: messages.Txn) -> None:
        self.journal.record(txn)
        if self.link is not None:
            self.link.notify_new_txn()

    def waiting(self) -> int:
        return self.journal.depth()

    def close(self) -> None:
        if self.link is not None:
            self.link.stop(timeout=0.5)
        self.journal.close()


def soak_readers() -> list[messages.CardRef]:
    cards = []
    for n in range(READERS):
        body = f"0110{60000000 + n:08d}"
        cards.append(messages.CardRef(scheme="bj-joint", number=body + luhn_check_digit(body)))
    return cards


def soak_books(registry: Any) -> list[tuple[str, str]]:
    """(barcode, home library) of the kiosks' libraries' books that are on the shelf in
    every demo ledger (80 books: each is lent and returned dozens of times)."""
    return [
        (i.barcode, i.home_library)
        for i in catalogue.generate_items(registry, per_member=catalogue.STABLE_SERIALS)
        if i.home_library in LIBRARIES and i.state == "on_shelf" and i.loanable and i.hold_for is None
    ]


class SoakKiosk(Protocol):
    """What the world needs of a kiosk: this module's `Kiosk`, or a kiosk in a process of
    its own (bench.chaos_kiosk.ChaosKiosk)."""

    kiosk_id: str
    library: str
    ids: TxnIdFactory

    @property
    def serving(self) -> bool: ...

    @property
    def online(self) -> bool: ...

    def record(self, txn: messages.Txn) -> None: ...


class World:
    """Readers lending and returning books at the kiosks, one txn at a time. A book is
    lent at any kiosk and returned at a kiosk of its home library (so it goes back on
    the shelf, free to be lent again: a book returned elsewhere would go in transit)."""

    def __init__(self, kiosks: list[SoakKiosk], books: list[tuple[str, str]], rng: random.Random) -> None:
        self.kiosks, self.rng = kiosks, rng
        self.home = dict(books)
        self.holder: dict[str, messages.CardRef | None] = dict.fromkeys(self.home)
        self.cards = soak_readers()
        self.held: Counter[str] = Counter()
        self.at = datetime.now(UTC) - timedelta(hours=1)
        self.made = 0

    def step(self) -> bool:
        """One loan or return at a kiosk that is serving readers; False when the book drawn
        could only go to kiosks that are not (a return whose home kiosks have no power)."""
        book = self.rng.choice(list(self.home))
        card = self.holder[book]
        kiosks = [k for k in self.kiosks if k.serving and (card is None or k.library == self.home[book])]
        if not kiosks:
            return False
        kiosk = self.rng.choice(kiosks)
        # Readers are told in this order: each row strictly later than the one before.
        self.at = max(datetime.now(UTC), self.at + timedelta(milliseconds=1))
        if card is None:
            card = self.rng.choice([c for c in self.cards if self.held[c.number] < MAX_LOANS])
            txn = messages.Txn(
                txn_id=kiosk.ids.next_id(), kiosk_id=kiosk.kiosk_id, library_id=kiosk.library,
                kind="loan", card=card, item=book, at=self.at, mode="offline",
                due=self.at + timedelta(days=30),
            )  # fmt: skip
            self.holder[book] = card
            self.held[card.number] += 1
        else:
            txn = messages.Txn(
                txn_id=kiosk.ids.next_id(), kiosk_id=kiosk.kiosk_id, library_id=kiosk.library,
                kind="return", card=card if self.rng.random() < 0.5 else None, item=book,
                at=self.at, mode="online" if kiosk.online else "offline",
                route="shelve",
            )  # fmt: skip
            self.holder[book] = None
            self.held[card.number] -= 1
        kiosk.record(txn)
        self.made += 1
        return True


# ---- one worker count ------------------------------------------------------------------


@dataclass
class Result:
    workers: int
    sent: int = 0
    committed: int = 0
    not_once: int = 0
    duplicate_acks: int = 0
    unanswered: int = 0
    exceptions: int = 0
    exception_reasons: dict[str, int] = field(default_factory=dict)
    books_wrong: int = 0
    readers_wrong: int = 0
    books: int = 0
    readers: int = 0
    worker_kills: int = 0
    broker_restarts: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.not_once or self.unanswered or self.books_wrong or self.readers_wrong)


def seed_ledger(path: Path | str, registry: Any) -> None:
    """The demo catalogue and the soak's readers in the ledger at `path` (a SQLite file)
    or at a database URL (`postgresql://...`)."""
    with Ledger.open(path if isinstance(path, str) else f"sqlite:///{path}") as led:
        led.seed_demo(registry)
        for card in soak_readers():
            led.add_reader(
                ReaderRecord(card.scheme, card.number, "测试读者", "valid", None, date(2099, 12, 31), "capital")
            )


def run_one(n_workers: int, txns: int, kills: int, broker_restarts: int, max_s: float, seed: int,
            seeded: Path, log: Any, plain: bool = False) -> Result:  # fmt: skip
    started = time.monotonic()
    deadline = started + max_s
    rng = random.Random(seed + n_workers)
    result = Result(n_workers)
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix=f"soak-{n_workers}w-") as tmp:
        workdir = Path(tmp)
        db = workdir / "hub.sqlite"
        shutil.copyfile(seeded, db)
        (workdir / "broker").mkdir()
        lab = None if plain else Lab(workdir / "lab")
        names = [f"w{i}" for i in range(1, n_workers + 1)]
        if lab is not None:  # every identity issued before the broker writes its roles
            configs: dict[str, Path | None] = {name: lab.hub_config(name, **SOAK_HUB) for name in names}
            for i, library in enumerate(LIBRARIES):
                lab.kiosk(f"soak-k{i}", library)
            # Its own directory (the mosquitto user must reach it; this one is 0700).
            broker: MosquittoProcess = lab.broker().start()
        else:  # plain: the PIN pepper file and SOAK_HUB in each worker's [hub]
            pepper = workdir / "pin-pepper"
            write_pepper_file(pepper)
            configs = {name: _plain_config(workdir, name, pepper) for name in names}
            broker = MosquittoProcess(workdir=workdir / "broker").start()
        workers = [Worker(name, broker.url, f"sqlite:///{db}", workdir / f"{name}.log", configs[name]) for name in names]
        kiosks = [Kiosk(f"soak-k{i}", library, broker.url, workdir, lab) for i, library in enumerate(LIBRARIES)]
        try:
            for w in workers:
                w.launch()
            for w in workers:
                w.wait_ready()
            for k in kiosks:
                k.connect()
            world = World(kiosks, soak_books(registry), rng)
            make_s = txns / RATE_PER_S
            # Faults at random moments of the making phase, in time order.
            faults = sorted(
                [(rng.uniform(0.05, 0.95) * make_s, "worker") for _ in range(kills)]
                + [(rng.uniform(0.2, 0.9) * make_s, "broker") for _ in range(broker_restarts)]
            )
            t0 = time.monotonic()
            restarts: list[tuple[float, Worker]] = []
            broker_faults = 0
            while world.made < txns and time.monotonic() < deadline - 60:
                now = time.monotonic() - t0
                while faults and faults[0][0] <= now:
                    _, what = faults.pop(0)
                    if what == "worker":
                        # Never one already killed and waiting for its restart: it would be
                        # launched twice, and two processes under one name duel for its session.
                        waiting = {id(w) for _at, w in restarts}
                        alive = [w for w in workers if id(w) not in waiting]
                        if not alive:
                            continue
                        victim = rng.choice(alive)
                        victim.kill()
                        result.worker_kills += 1
                        restarts.append((time.monotonic() + rng.uniform(0.1, 2.0), victim))
                    else:
                        broker_faults += 1
                        if broker_faults == 1:
                            broker.stop()  # clean: it saves sessions and queues
                        else:
                            broker.kill()  # loses what it had not saved
                        result.broker_restarts += 1
                        time.sleep(rng.uniform(0.2, 1.5))
                        broker.start()
                        log(f"  {n_workers}w: broker restarted ({'clean' if broker_faults == 1 else 'SIGKILL'})")
                for at, w in list(restarts):
                    if at <= time.monotonic():
                        restarts.remove((at, w))
                        w.launch()
                for k in kiosks:
                    if k.link is None and time.monotonic() >= k.back_at:
                        k.connect()
                    elif k.link is not None and rng.random() < 0.002:
                        k.go_offline(rng.uniform(1.0, 6.0))
                world.step()
                due = t0 + world.made / RATE_PER_S
                time.sleep(max(0.0, due - time.monotonic()))
            for _at, w in restarts:
                w.launch()
            for k in kiosks:
                if k.link is None:
                    k.connect()
            log(f"  {n_workers}w: {world.made} txns made in {time.monotonic() - t0:.0f} s; draining")
            # Drain: every row answered, within what is left of the budget.
            while time.monotonic() < deadline - 5 and any(k.waiting() for k in kiosks):
                time.sleep(0.2)
            result.unanswered = sum(k.waiting() for k in kiosks)
        finally:
            for k in kiosks:
                k.close()
            for w in workers:
                w.stop()
            broker.close()
            if lab is not None:
                lab.close()
        with Ledger.open(f"sqlite:///{db}") as led:
            cards = known_cards(led)
            events = [e for k in kiosks for e in journal_events(k.path, cards)]
            told = last_told(events)
            txn_ids = [e.txn_id for e in events]
            counts = led.ledger_counts(txn_ids)
            report = audit(led, told)
            reasons = Counter(row.reason for row in led.exceptions())
            result.exceptions = sum(reasons.values())
            result.exception_reasons = dict(reasons.most_common())
        result.sent = len(txn_ids)
        result.committed = sum(1 for n in counts.values() if n == 1)
        result.not_once = sum(1 for n in counts.values() if n != 1)
        result.duplicate_acks = sum(k.ack_results["duplicate"] for k in kiosks)
        result.books, result.readers = report.books, report.readers
        result.books_wrong, result.readers_wrong = len(report.books_wrong), len(report.readers_wrong)
        result.examples = (report.books_wrong[:3] + report.readers_wrong[:3])[:5]
        result.seconds = round(time.monotonic() - started, 1)
    return result


COLUMNS = [
    ("workers", "workers"), ("sent", "txns sent"), ("committed", "committed once"),
    ("not_once", "not once"), ("duplicate_acks", "dup acks"), ("unanswered", "unanswered"),
    ("books_wrong", "books != told"), ("readers_wrong", "readers != told"),
    ("exceptions", "staff exceptions"), ("worker_kills", "worker kills"),
    ("broker_restarts", "broker restarts"), ("seconds", "s"),
]  # fmt: skip


def table(results: list[Result]) -> str:
    rows = [[title for _key, title in COLUMNS]]
    rows += [[str(getattr(r, key)) for key, _title in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_order", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated (default 1,2,4)")
    parser.add_argument("--txns", type=int, default=3000, help="txns per worker count (default 3000)")
    parser.add_argument("--kills", type=int, default=20, help="hub worker SIGKILLs per worker count")
    parser.add_argument("--broker-restarts", type=int, default=2, help="per worker count (default 2)")
    parser.add_argument("--max-s", type=float, default=170.0, help="time bound per worker count")
    parser.add_argument("--seed", type=int, default=2012)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--plain", action="store_true",
                        help="the old anonymous plain broker instead of the secure setup (a lab comparison)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]

    logging.basicConfig(level=logging.ERROR)  # links going down is what the soak does

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="soak-seed-") as tmp:
        seeded = Path(tmp) / "seeded.sqlite"
        seed_ledger(seeded, load_registry())
        for n in counts:
            log(f"soak: {n} hub worker(s), {args.txns} txns, {args.kills} kills, "
                f"{args.broker_restarts} broker restarts, {'plain TCP' if args.plain else 'TLS'}")  # fmt: skip
            results.append(run_one(n, args.txns, args.kills, args.broker_restarts, args.max_s, args.seed, seeded, log,
                                   args.plain))  # fmt: skip
    print(table(results))
    for r in results:
        if r.exception_reasons:
            print(f"  {r.workers}w: staff exceptions by reason: {r.exception_reasons}")
        for example in r.examples:
            print(f"  {r.workers}w: {example}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
