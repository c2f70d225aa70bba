"""The ledger ends where the readers were told (issue 9), end to end: a private Mosquitto,
real hub worker processes (`python -m hub --worker wN`) on one SQLite ledger, and the
kiosk's real hub link (`firmware.hub_link.HubLink`) draining real journals; all on the
lab's secure setup (TLS, the alliance's roles, enrolled kiosks, signed acks).

What readers were told is read back from the kiosk journals, in order
(`kiosk_tools.told_audit`); every test ends by comparing every book's ledger state and
every reader's open loans with it, not only counting txns.

(a) 2 and 4 workers drain one kiosk's offline backlog of loan/return chains of the
    same books (lent, returned, lent to another reader, ...);
(b) a worker is killed (SIGKILL) and restarted, or the broker restarted, mid-drain;
(c) an offline loan at kiosk A and the return of that book at kiosk B, which reaches
    the hub first: the book ends returned, the loan opened and closed.

Before per-kiosk ordering (docs/ordering.md) these fail: workers commit neighbouring
rows of a backlog in either order, so a return can land before its loan.
"""

from __future__ import annotations

import itertools
import queue
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from contract import messages, signing
from contract.check_digits import luhn_check_digit
from contract.privacy import card_hash
from firmware.hub_link import HubLink
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import load_registry
from hub.rules.rules import ReaderRecord
from kiosk_tools.told_audit import audit, journal_events, known_cards, last_told, loan_history
from tests.e2e.conftest import HubProcess, wait_until
from tests.secure_clients import kiosk_tls

pytestmark = pytest.mark.slow

BEIJING = timezone(timedelta(hours=8))
REGISTRY = load_registry()
LIBRARY = "capital"
READERS = 80  # test readers (bj-joint, valid): enough that few reach the limit of 5
DRAIN_TIMEOUT_S = 60.0


# ---- the world: readers, books, a seeded ledger, workers -----------------------------


def reader_cards() -> list[messages.CardRef]:
    """Valid joint cards of Capital Library readers, added to the ledger for these tests."""
    cards = []
    for n in range(READERS):
        body = f"0110{70000000 + n:08d}"
        cards.append(messages.CardRef(scheme="bj-joint", number=body + luhn_check_digit(body)))
    return cards


def shelf_books() -> list[tuple[str, str]]:
    """(barcode, home library) of the kiosk library's own books that are on the shelf in
    every demo ledger: returned at the kiosk they go back on the shelf, so each can be
    lent again at once (another library's book would go in transit)."""
    return [
        (i.barcode, i.home_library)
        for i in catalogue.generate_items(REGISTRY, per_member=catalogue.STABLE_SERIALS)
        if i.home_library == LIBRARY and i.state == "on_shelf" and i.loanable and i.hold_for is None
    ]


@pytest.fixture(scope="module")
def seeded_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalogue plus the test readers, seeded once and copied for each test."""
    path = tmp_path_factory.mktemp("ledger") / "seeded.sqlite"
    with Ledger.open(f"sqlite:///{path}") as led:
        led.seed_demo(REGISTRY)
        for card in reader_cards():
            led.add_reader(
                ReaderRecord(card.scheme, card.number, "测试读者", "valid", None, date(2099, 12, 31), LIBRARY)
            )
    return path


@dataclass
class Hub:
    """A private broker and `n` hub workers, w1..wn, on one copy of the seeded ledger."""

    lab: Lab
    broker: TlsMosquittoProcess
    workers: list[HubProcess]
    db_url: str

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.broker.close()


@pytest.fixture
def start_hub(tmp_path: Path, seeded_ledger: Path, lab: Lab) -> Iterator[Callable[[int], Hub]]:
    made: list[Hub] = []

    def start(n: int) -> Hub:
        db = tmp_path / "hub.sqlite"
        shutil.copyfile(seeded_ledger, db)
        broker = lab.broker().start()
        workers = [
            HubProcess(
                broker.url, db, tmp_path / f"hub-w{i}.log", worker=f"w{i}", config=lab.hub_config(f"w{i}")
            )
            for i in range(1, n + 1)
        ]
        hub = Hub(lab, broker, workers, f"sqlite:///{db}")
        made.append(hub)
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_ready()
        return hub

    yield start
    for hub in made:
        hub.close()


# ---- journals: what the kiosks told their readers ------------------------------------


class KioskJournal:
    """A kiosk's journal, written as the kiosk writes it: one row per loan or return,
    each `at` `step` later than the one before."""

    def __init__(self, path: Path, kiosk_id: str, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        self.path = path
        self.kiosk_id = kiosk_id
        self.step = step
        self.ids = TxnIdFactory(kiosk_id, None)
        self.at = start
        self.txn_ids: list[str] = []
        self.journal = Journal.open(path)

    def record(self, kind: str, book: tuple[str, str], card: messages.CardRef | None, mode: str) -> None:
        self.at += self.step
        barcode, home = book
        txn = messages.Txn(
            txn_id=self.ids.next_id(),
            kiosk_id=self.kiosk_id,
            library_id=LIBRARY,
            kind=kind,
            card=card,
            item=barcode,
            at=self.at,
            mode=mode,
            due=self.at + timedelta(days=30) if kind == "loan" else None,
            route=("shelve" if home == LIBRARY else "transfer") if kind == "return" else None,
        )
        self.journal.record(txn)
        self.txn_ids.append(txn.txn_id)

    def close(self) -> None:
        self.journal.close()


def offline_backlog(path: Path, kiosk_id: str, chain: tuple[int, ...]) -> KioskJournal:
    """A backlog recorded offline: for each book in turn, a chain of loan, return, loan
    (to the next reader), ... of a length taken from `chain` in rotation, so books end
    returned (even lengths) or lent (odd). A book's events are neighbouring rows: the
    ones several workers are most likely to commit in reverse."""
    # A row every 20 s, as one kiosk can lend and take back: a backlog much faster than
    # that would be offline loans and returns the hub holds for staff
    # (`[hub] offline_loans_per_kiosk_hour`, `returns_per_minute`: hub/ledger/txn_plausibility.py).
    journal = KioskJournal(path, kiosk_id, datetime.now(BEIJING) - timedelta(hours=10), step=timedelta(seconds=20))
    readers = itertools.cycle(reader_cards())
    lengths = itertools.cycle(chain)
    for book in shelf_books():
        for k in range(next(lengths)):
            if k % 2 == 0:
                journal.record("loan", book, next(readers), "offline")
            else:
                journal.record("return", book, None, "offline")
    return journal


# ---- the kiosk's hub link -------------------------------------------------------------


class Link:
    """The real hub link of one kiosk over its journal, as an enrolled kiosk runs it: its
    TLS identity (enrolled on first use) and the hub's public key."""

    def __init__(self, hub: Hub, journal: KioskJournal) -> None:
        self.journal = journal
        self.events: queue.Queue[object] = queue.Queue()
        self.link = HubLink(
            hub.broker.url, journal.kiosk_id, LIBRARY, self.events.put,
            firmware_version="e2e", journal=journal.journal, fetch_blocklist=False,
            tls=kiosk_tls(hub.lab, journal.kiosk_id, LIBRARY),
            hub_public_key=signing.load_public_key(hub.lab.pki.hub_signing_pub),
        )  # fmt: skip

    def start(self) -> Link:
        self.link.start()
        return self

    def done(self) -> int:
        """Rows the hub has answered (acked, exception or rejected)."""
        counts = self.journal.journal.counts()
        return sum(counts.values()) - counts["pending"] - counts["sent"]

    def drained(self, timeout_s: float = DRAIN_TIMEOUT_S) -> dict[str, int]:
        total = len(self.journal.txn_ids)
        wait_until(lambda: self.done() == total, timeout_s, f"{self.journal.kiosk_id}'s {total} rows answered")
        return self.journal.journal.counts()

    def stop(self) -> None:
        self.link.stop()


@pytest.fixture
def links() -> Iterator[list[Link]]:
    made: list[Link] = []
    yield made
    for link in made:
        link.stop()
        link.journal.close()


def assert_ledger_as_told(db_url: str, *journals: KioskJournal) -> None:
    """Every txn once, every book and every reader's loans as the readers were told, and
    no staff exception: in these stories no two loans of a book overlap in time."""
    txn_ids = [t for j in journals for t in j.txn_ids]
    with Ledger.open(db_url) as led:
        cards = known_cards(led)
        told = last_told(e for j in journals for e in journal_events(j.path, cards))
        counts = led.ledger_counts(txn_ids)
        result = audit(led, told)
        exceptions = Counter(row.reason for row in led.exceptions() if row.txn_id in set(txn_ids))
    missing = [t for t, n in counts.items() if n != 1]
    assert not missing, f"{len(missing)} txns not committed exactly once, e.g. {missing[:3]}"
    assert result.ok, result.summary()
    assert not exceptions, f"staff exceptions where nothing conflicted: {dict(exceptions)}"


# ---- (a) several workers drain one backlog --------------------------------------------


@pytest.mark.parametrize("workers", [2, 4])
def test_a_backlog_drained_by_several_workers_leaves_every_book_as_readers_were_told(
    start_hub: Callable[[int], Hub], tmp_path: Path, links: list[Link], workers: int
) -> None:
    hub = start_hub(workers)
    journal = offline_backlog(tmp_path / "kiosk.sqlite3", f"e2e-order-{workers}w", (24, 25, 22, 23, 26))
    link = Link(hub, journal).start()
    links.append(link)
    counts = link.drained()
    assert counts["rejected"] == 0, counts
    assert_ledger_as_told(hub.db_url, journal)


# ---- (b) a worker killed, the broker restarted, mid-drain -----------------------------


@pytest.mark.parametrize("fault", ["worker-killed", "broker-restarted"])
def test_a_backlog_interrupted_by_a_killed_worker_or_a_broker_restart_ends_as_told(
    start_hub: Callable[[int], Hub], tmp_path: Path, links: list[Link], fault: str
) -> None:
    """The killed worker comes back under its name and finds its session (what the broker
    queued for it while it was dead); the broker stops cleanly and restores sessions."""
    hub = start_hub(2)
    journal = offline_backlog(tmp_path / "kiosk.sqlite3", f"e2e-order-{fault}", (70, 71, 68, 69))
    link = Link(hub, journal).start()
    links.append(link)
    total = len(journal.txn_ids)
    wait_until(lambda: link.done() >= total // 10, 30, "the backlog to start draining")
    if fault == "worker-killed":
        hub.workers[0].kill()
        hub.workers[0].start()
    else:
        hub.broker.stop()
        hub.broker.start()
    assert link.done() < total, "the backlog drained before the fault: make it longer"
    counts = link.drained()
    assert counts["rejected"] == 0, counts
    assert_ledger_as_told(hub.db_url, journal)


# ---- (c) lent offline at A, returned at B, B's return first ----------------------------


def test_an_offline_loan_at_one_kiosk_returned_at_another_first_ends_returned_with_both_in_history(
    start_hub: Callable[[int], Hub], tmp_path: Path, links: list[Link]
) -> None:
    """Kiosk A is offline: a reader borrows a book there (journalled, told "loaned").
    They return it at kiosk B, online, minutes later; B's return reaches the hub first.
    When A's link comes back its loan arrives: the book must stay returned, and the
    reader's history must hold the loan, opened at A and closed by B's return."""
    hub = start_hub(2)
    book = shelf_books()[0]
    card = reader_cards()[0]
    reader = card_hash(card.scheme, card.number)
    now = datetime.now(BEIJING)
    kiosk_a = KioskJournal(tmp_path / "a.sqlite3", "e2e-order-a", now - timedelta(minutes=10))
    kiosk_a.record("loan", book, card, "offline")
    kiosk_b = KioskJournal(tmp_path / "b.sqlite3", "e2e-order-b", now - timedelta(seconds=2))
    kiosk_b.record("return", book, card, "online")

    link_b = Link(hub, kiosk_b).start()
    links.append(link_b)
    link_b.drained(15)
    link_a = Link(hub, kiosk_a).start()
    links.append(link_a)
    link_a.drained(15)

    assert_ledger_as_told(hub.db_url, kiosk_a, kiosk_b)
    with Ledger.open(hub.db_url) as led:
        history = loan_history(led, book[0])
        assert led.active_loan_for_item(book[0]) is None
    assert [(holder, closed is not None) for holder, _opened, closed in history] == [(reader, True)], history


def test_the_audit_reports_a_book_and_a_reader_the_ledger_disagrees_on(
    seeded_ledger: Path, tmp_path: Path
) -> None:
    """The check the tests above rely on: told "lent to R" while the ledger has the book
    on the shelf is one wrong book and one wrong reader; told "returned" is right."""
    book = shelf_books()[0][0]
    card = reader_cards()[1]
    reader = card_hash(card.scheme, card.number)
    kiosk = KioskJournal(tmp_path / "k.sqlite3", "e2e-order-audit", datetime.now(BEIJING))
    kiosk.record("loan", (book, LIBRARY), card, "offline")
    kiosk.close()
    told = last_told(journal_events(kiosk.path))
    assert told == {book: reader}
    with Ledger.open(f"sqlite:///{seeded_ledger}") as led:
        wrong = audit(led, told)
        assert (len(wrong.books_wrong), len(wrong.readers_wrong)) == (1, 1), wrong.summary()
        assert audit(led, {book: None}).ok
