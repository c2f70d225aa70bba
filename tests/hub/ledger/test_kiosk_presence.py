"""When the hub heard each kiosk (hub/ledger/kiosk_presence.py), and the checks that read it and
the ledger's own history (hub/ledger/txn_plausibility.py), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.ledger import kiosk_presence
from hub.ledger.kiosk_presence import PresenceWriter
from hub.ledger.ledger import Ledger
from hub.ledger.txn_checks import OfflineBounds
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import add_item, add_reader, card
from tests.hub.ledger.test_ordering import Kiosk

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
GAP = timedelta(seconds=10)


def s(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_events_closer_than_the_gap_make_one_interval_and_an_offline_state_ends_it(ledger: Ledger) -> None:
    writer = PresenceWriter(gap=GAP, resolution=timedelta(0))
    for t in (0, 5, 12):
        ledger.record_heard(writer, "k1", s(t))
    ledger.record_gone(writer, "k1", s(13))
    ledger.record_heard(writer, "k1", s(15))
    ledger.record_heard(writer, "k1", s(40))
    assert doors.presence(ledger, "k1") == [(s(0), s(12), True), (s(15), s(15), False), (s(40), s(40), False)]


def test_inside_an_interval_the_kiosk_was_heard_around_and_in_a_gap_it_was_not(ledger: Ledger) -> None:
    writer = PresenceWriter(gap=GAP, resolution=timedelta(0))
    for t in (0, 8, 16, 60):
        ledger.record_heard(writer, "k1", s(t))
    db = ledger.db
    assert kiosk_presence.heard_around(db, "k1", s(10))
    assert not kiosk_presence.heard_around(db, "k1", s(30))
    assert not kiosk_presence.heard_around(db, "k2", s(10))
    assert kiosk_presence.heard_between(db, "k1", s(20), s(70))
    assert not kiosk_presence.heard_between(db, "k1", s(17), s(59))
    assert kiosk_presence.heard_just_before(db, "k1", s(65), GAP)  # the open session since 60
    assert not kiosk_presence.heard_just_before(db, "k1", s(30), GAP)  # began after it


def test_the_writer_writes_at_most_once_per_resolution_and_forgets_old_intervals(ledger: Ledger) -> None:
    writer = PresenceWriter(gap=GAP, keep=timedelta(days=8))
    for t in (0.0, 0.3, 0.6):
        ledger.record_heard(writer, "k1", s(t))
    assert doors.presence(ledger, "k1") == [(s(0), s(0), False)]  # the first event only, within 1 s
    ledger.record_heard(writer, "k1", s(9 * 86400))
    assert doors.presence(ledger, "k1") == [(s(9 * 86400), s(9 * 86400), False)]


def test_a_held_return_keeps_the_loan_open_on_either_ledger(ledger: Ledger, registry: Registry) -> None:
    reader = card("bj-joint", 3)
    add_reader(ledger, reader)
    book = add_item(ledger, registry, "capital", 3)
    lender, across = Kiosk("k-capital"), Kiosk("k-chaoyang", library="chaoyang")
    bounds = OfflineBounds()
    [loan] = ledger.commit(lender.txn("loan", book, reader, NOW), registry, s(3600), bounds)
    [back] = ledger.commit(across.txn("return", book, None, s(60)), registry, s(3601), bounds)
    assert (loan.exception, back.exception) == (None, "return_implausible")
    # An older event arrives: the book's loans are derived again, the held return ignored.
    other = Kiosk("k-capital-2")  # a return there before the loan (of an earlier loan)
    [early] = ledger.commit(other.txn("return", book, None, s(-600)), registry, s(3602), bounds)
    assert (early.result, early.exception) == ("committed", None)
    assert ledger.active_loan_for_item(book) is not None
    assert [f.flag for f in ledger.kiosk_flags("k-chaoyang")] == ["implausible_returns"]
