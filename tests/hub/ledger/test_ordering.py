"""The ledger ends where the readers were told: a kiosk's txns apply in its journal order
whatever order they arrive in, and a book's loans follow the moments readers were told,
across kiosks, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import random
import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest

from contract import messages, privacy
from hub.ledger.ledger import Ledger
from hub.ledger.order_caps import EPOCHS_OVER_CAP, PARKED_FULL, PARKED_TOO_LONG, OrderCaps, OverCap
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import add_item, add_reader, card

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
EPOCH = "0123456789abcdef"


class Kiosk:
    """Txns as one kiosk's journal numbers them."""

    def __init__(self, kiosk_id: str = "k1", library: str = "capital", epoch: str = EPOCH) -> None:
        self.kiosk_id, self.library, self.epoch = kiosk_id, library, epoch
        self.seq = 0

    def txn(
        self,
        kind: str,
        item: str,
        ref: messages.CardRef | None,
        at: datetime,
        mode: str = "offline",
        floor: int = 1,
    ) -> messages.Txn:
        self.seq += 1
        return messages.Txn(
            txn_id=f"{self.kiosk_id}-{secrets.token_hex(8)}",
            kiosk_id=self.kiosk_id,
            library_id=self.library,
            kind=kind,
            card=ref,
            item=item,
            at=at,
            mode=mode,
            due=at + timedelta(days=28) if kind == "loan" else None,
            seq=self.seq,
            epoch=self.epoch,
            floor=floor,
        )


def holder(ledger: Ledger, item: str) -> str | None:
    loan = ledger.active_loan_for_item(item)
    return None if loan is None else loan.card_hash


def key(ref: messages.CardRef) -> str:
    return privacy.card_hash(ref.scheme, ref.number)


def item_state(ledger: Ledger, item: str) -> str:
    return ledger.item(item).state


def test_a_txn_ahead_of_its_predecessor_waits_and_both_apply_in_journal_order(
    ledger: Ledger, registry: Registry
) -> None:
    reader = card("bj-joint", 1)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 1)
    k = Kiosk()
    loan = k.txn("loan", book, reader, NOW)
    back = k.txn("return", book, None, NOW + timedelta(minutes=5))

    assert ledger.commit(back, registry, NOW) == []  # parked: seq 1 is missing
    assert doors.txn_rows(ledger) == 0
    assert ledger.commit(back, registry, NOW) == []  # resent while waiting: still waiting

    acks = ledger.commit(loan, registry, NOW)
    assert [(a.txn_id, a.result) for a in acks] == [(loan.txn_id, "committed"), (back.txn_id, "committed")]
    assert holder(ledger, book) is None, "the return was applied before the loan"
    assert item_state(ledger, book) == "on_shelf"
    assert ledger.commit(back, registry, NOW)[0].result == "duplicate"


def test_floor_says_the_rows_before_it_are_committed_and_a_new_epoch_starts_again(
    ledger: Ledger, registry: Registry
) -> None:
    reader = card("bj-joint", 2)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 2)
    k = Kiosk()
    k.seq = 40  # rows 1..40 were acked long ago (and pruned on the kiosk)
    [ack] = ledger.commit(k.txn("loan", book, reader, NOW, floor=41), registry, NOW)
    assert ack.result == "committed"

    fresh = Kiosk(epoch="fedcba9876543210")  # the kiosk's journal was replaced
    [ack] = ledger.commit(fresh.txn("return", book, None, NOW + timedelta(hours=1)), registry, NOW)
    assert ack.result == "committed" and holder(ledger, book) is None


def test_an_offline_loan_at_one_kiosk_arriving_after_the_return_at_another_ends_returned(
    ledger: Ledger, registry: Registry
) -> None:
    reader = card("bj-joint", 3)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 3)
    a, b = Kiosk("ka", "capital"), Kiosk("kb", "capital")
    offline_loan = a.txn("loan", book, reader, NOW)  # kiosk A is offline
    returned = b.txn("return", book, None, NOW + timedelta(hours=1), mode="online")

    assert ledger.commit(returned, registry, NOW + timedelta(hours=1))[0].result == "committed"
    [ack] = ledger.commit(offline_loan, registry, NOW + timedelta(hours=3))
    assert ack.result == "committed" and ack.exception is None

    assert holder(ledger, book) is None
    assert item_state(ledger, book) == "on_shelf"
    [row] = ledger.db.query("SELECT card_hash, opened_at, closed_at, closed_by FROM loans WHERE item = ?", (book,))
    assert row[0] == key(reader)
    assert (row[1] < row[2], row[3]) == (True, returned.txn_id), "both events in the reader's history"
    assert ledger.active_loans(key(reader)) == []


def test_a_late_return_closes_the_first_loan_and_lets_the_next_readers_loan_stand(
    ledger: Ledger, registry: Registry
) -> None:
    first, second = card("bj-joint", 4), card("bj-joint", 5)
    add_reader(ledger, first)
    add_reader(ledger, second)
    book = add_item(ledger, registry, "capital", 4)
    a, b, c = Kiosk("ka"), Kiosk("kb"), Kiosk("kc")
    ledger.commit(a.txn("loan", book, first, NOW, mode="online"), registry, NOW)
    late_return = b.txn("return", book, None, NOW + timedelta(hours=1))  # B offline
    next_loan = c.txn("loan", book, second, NOW + timedelta(hours=2))  # C offline
    ledger.commit(next_loan, registry, NOW + timedelta(hours=3))  # a conflict as it arrives
    ledger.commit(late_return, registry, NOW + timedelta(hours=4))

    assert holder(ledger, book) == key(second)
    assert item_state(ledger, book) == "on_loan"
    assert ledger.active_loans(key(first)) == []
    assert [loan.item for loan in ledger.active_loans(key(second))] == [book]


def test_two_loans_overlapping_in_time_are_a_staff_exception(ledger: Ledger, registry: Registry) -> None:
    first, second = card("bj-joint", 6), card("bj-joint", 7)
    add_reader(ledger, first)
    add_reader(ledger, second)
    book = add_item(ledger, registry, "capital", 6)
    a, b = Kiosk("ka"), Kiosk("kb")
    later_online = b.txn("loan", book, second, NOW + timedelta(hours=1), mode="online")
    earlier_offline = a.txn("loan", book, first, NOW)
    ledger.commit(later_online, registry, NOW + timedelta(hours=1))
    ledger.commit(earlier_offline, registry, NOW + timedelta(hours=2))

    assert holder(ledger, book) == key(first)  # the first loan told stands
    assert [e.txn_id for e in ledger.exceptions()] == [later_online.txn_id]


def test_a_kiosk_clock_running_ahead_is_corrected_by_its_telemetry(ledger: Ledger, registry: Registry) -> None:
    reader = card("bj-joint", 8)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 8)
    fast, right = Kiosk("kfast"), Kiosk("kright")
    ahead = timedelta(minutes=4)  # within [hub] max_clock_offset_s: corrected
    telemetry = messages.Telemetry(at=NOW + ahead, journal_pending=0)
    ledger.record_telemetry("kfast", telemetry, NOW)
    # The fast kiosk lent it at 10:10 real time (its clock said 10:14); the return at the
    # other kiosk was at 10:12 real time and reached the hub first.
    loan = fast.txn("loan", book, reader, NOW + timedelta(minutes=10) + ahead)
    back = right.txn("return", book, None, NOW + timedelta(minutes=12), mode="online")
    ledger.commit(back, registry, NOW + timedelta(minutes=12))
    ledger.commit(loan, registry, NOW + timedelta(hours=1))
    assert holder(ledger, book) is None
    [row] = ledger.fleet()
    assert row.clock_offset_s == ahead.total_seconds()


def test_workers_racing_on_a_shuffled_backlog_apply_each_kiosk_in_order(db_url: str, registry: Registry) -> None:
    """Two workers (two connections) take a kiosk's backlog in any order, each txn
    delivered to both: every book ends as its last txn told the reader."""
    readers = [card("bj-joint", 100 + n) for n in range(4)]
    with Ledger.open(db_url) as setup:
        for ref in readers:
            add_reader(setup, ref)
        books = [add_item(setup, registry, "capital", 100 + n) for n in range(6)]
    k = Kiosk("kbusy")
    told: dict[str, str | None] = {}
    txns = []
    at = NOW
    for round_ in range(4):
        for n, book in enumerate(books):
            ref = readers[(n + round_) % len(readers)]
            at += timedelta(minutes=1)
            txns.append(k.txn("loan", book, ref, at))
            told[book] = key(ref)
            if round_ < 3 or n % 2:
                at += timedelta(minutes=1)
                txns.append(k.txn("return", book, None, at))
                told[book] = None
    deliveries = txns * 2
    random.Random(7).shuffle(deliveries)
    halves = [deliveries[0::2], deliveries[1::2]]

    def worker(batch: list[messages.Txn]) -> None:
        with Ledger.open(db_url) as mine:
            for t in batch:
                mine.commit(t, registry, NOW + timedelta(days=1))

    threads = [threading.Thread(target=worker, args=(half,)) for half in halves]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    with Ledger.open(db_url) as check:
        assert doors.txn_rows(check) == len(txns)
        assert {book: holder(check, book) for book in books} == told
        assert not check.exceptions()


def test_a_telemetry_sample_delayed_on_its_way_does_not_skew_the_kiosks_order(
    ledger: Ledger, registry: Registry
) -> None:
    """A sample can only read low (it waited in the broker or behind a backlog): the
    best of the last minutes is kept, and a few seconds' difference is not corrected."""
    reader = card("bj-joint", 9)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 9)
    ledger.record_telemetry("kslow", messages.Telemetry(at=NOW, journal_pending=0), NOW)
    delayed = messages.Telemetry(at=NOW + timedelta(seconds=30), journal_pending=0)
    ledger.record_telemetry("kslow", delayed, NOW + timedelta(seconds=38))  # waited 8 s
    [row] = ledger.fleet()
    assert row.clock_offset_s == 0.0
    # Events a second apart at two kiosks keep their order.
    slow, other = Kiosk("kslow"), Kiosk("kother")
    loan = slow.txn("loan", book, reader, NOW + timedelta(seconds=40))
    back = other.txn("return", book, None, NOW + timedelta(seconds=41), mode="online")
    ledger.commit(back, registry, NOW + timedelta(seconds=41))
    ledger.commit(loan, registry, NOW + timedelta(seconds=50))
    assert holder(ledger, book) is None


# ---- bounds (issue 16, finding 9): the same SQL on both dialects


def test_over_the_caps_a_txn_is_refused_with_nothing_written_and_stale_parked_txns_go_to_staff(
    ledger: Ledger, registry: Registry
) -> None:
    caps = OrderCaps(max_parked_per_kiosk=2, max_epochs_per_day=2, parked_max_age=timedelta(hours=1))
    book = add_item(ledger, registry, "capital", 9)
    k = Kiosk("k-caps")
    rows = [k.txn("return", book, None, NOW + timedelta(minutes=n)) for n in range(4)]
    assert ledger.commit(rows[1], registry, NOW, caps=caps) == []
    assert ledger.commit(rows[2], registry, NOW, caps=caps) == []
    with pytest.raises(OverCap) as parked_full:
        ledger.commit(rows[3], registry, NOW, caps=caps)
    assert (parked_full.value.reason, parked_full.value.ack) == (PARKED_FULL, None)
    other = Kiosk("k-caps", epoch="00000000000000b1").txn("return", book, None, NOW)
    assert ledger.commit(other, registry, NOW, caps=caps)[0].result == "committed"  # a second epoch
    third = Kiosk("k-caps", epoch="00000000000000b2").txn("return", book, None, NOW)
    with pytest.raises(OverCap) as too_many:
        ledger.commit(third, registry, NOW, caps=caps)
    assert too_many.value.ack == messages.Ack(txn_id=third.txn_id, result="rejected", reason=EPOCHS_OVER_CAP)
    assert doors.txn_rows(ledger) == 1

    later = NOW + timedelta(hours=2)
    swept = ledger.sweep_parked(registry, later, caps)
    assert [(a.txn_id, a.exception) for _, a in swept] == [(t.txn_id, PARKED_TOO_LONG) for t in rows[1:3]]
    assert ledger.commit(rows[3], registry, later, caps=caps) == []  # behind the other epoch's order now
    assert ledger.sweep_parked(registry, later + timedelta(days=3), caps)[0][1].txn_id == rows[3].txn_id
    assert ledger.db.scalar("SELECT count(*) FROM parked") == 0
    assert ledger.db.scalar("SELECT count(*) FROM kiosk_epochs") == 1  # old epochs forgotten, the current kept


def test_a_txn_the_ledger_holds_resent_under_a_new_epoch_behind_a_gap_gets_its_ack_at_once(
    ledger: Ledger, registry: Registry
) -> None:
    """A journal copied to a new file numbers an old row anew: the ledger has it already,
    so its first ack comes back as a duplicate instead of waiting for a gap to fill."""
    reader = card("bj-joint", 90)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 90)
    first = Kiosk().txn("loan", book, reader, NOW)
    assert doors.commit_txn(ledger, first, registry, NOW).result == "committed"
    resent = first.model_copy(update={"epoch": "fedcba9876543210", "seq": 5, "floor": 1})
    again = doors.commit_txn(ledger, resent, registry, NOW + timedelta(minutes=1))
    assert again is not None and again.result == "duplicate"
    assert doors.txn_rows(ledger, first.txn_id) == 1


def test_a_txn_of_a_replaced_epoch_resent_late_gets_its_first_ack_not_a_place_in_line(
    ledger: Ledger, registry: Registry
) -> None:
    reader = card("bj-joint", 91)
    add_reader(ledger, reader)
    books = [add_item(ledger, registry, "capital", 91 + i) for i in range(3)]
    old = Kiosk()
    a1 = old.txn("loan", books[0], reader, NOW)
    a2 = old.txn("loan", books[1], reader, NOW + timedelta(minutes=1))
    for t in (a1, a2):
        assert doors.commit_txn(ledger, t, registry, NOW).result == "committed"
    new = Kiosk(epoch="fedcba9876543210")
    b1 = new.txn("loan", books[2], reader, NOW + timedelta(minutes=2))
    assert doors.commit_txn(ledger, b1, registry, NOW).result == "committed"
    again = doors.commit_txn(ledger, a2, registry, NOW + timedelta(minutes=3))
    assert again is not None and again.result == "duplicate"
    assert again.model_copy(update={"result": "committed"}).due == holder_due(ledger, books[1])


def holder_due(ledger: Ledger, item: str) -> datetime:
    loan = ledger.active_loan_for_item(item)
    assert loan is not None
    return loan.due
