"""Renewals at the ledger: who may renew, a hold by someone else, the renewal limit, and
an offline renewal the rules would refuse (it happened: kept, with the due date the
reader was shown, for staff), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import NOW, add_item, add_reader, card, txn


def lent(ledger: Ledger, registry: Registry, serial: int) -> tuple[str, str, object]:
    """A reader with one book on loan from NOW: (book, reader hash, card)."""
    ref = card("bj-joint", serial)
    key = add_reader(ledger, ref)
    book = add_item(ledger, registry, "capital", serial)
    assert doors.commit_txn(ledger, txn("loan", book, ref), registry, NOW).result == "committed"
    return book, key, ref


def test_a_renewal_with_no_card_is_refused_card_required(ledger: Ledger, registry: Registry) -> None:
    book, _key, _ref = lent(ledger, registry, 70)
    ack = doors.commit_txn(ledger, txn("renew", book, None), registry, NOW)
    assert (ack.result, ack.reason) == ("rejected", "card_required")


def test_a_renewal_of_a_book_on_no_loan_is_refused_not_on_loan(ledger: Ledger, registry: Registry) -> None:
    ref = card("bj-joint", 71)
    add_reader(ledger, ref)
    shelved = add_item(ledger, registry, "capital", 71)
    for item in (shelved, "30002999999990"):
        ack = doors.commit_txn(ledger, txn("renew", item, ref), registry, NOW)
        assert (ack.result, ack.reason) == ("rejected", "not_on_loan"), item


def test_a_hold_by_another_reader_stops_a_renewal_and_the_loan_stays_as_it_was(
    ledger: Ledger, registry: Registry
) -> None:
    book, _key, ref = lent(ledger, registry, 72)
    before = ledger.active_loan_for_item(book)
    other = add_reader(ledger, card("bj-joint", 73))
    doors.place_hold(ledger, book, other, "capital", NOW)
    later = NOW + timedelta(days=10)
    ack = doors.commit_txn(ledger, txn("renew", book, ref, at=later), registry, later)
    assert (ack.result, ack.reason) == ("rejected", "renew_on_hold")
    after = ledger.active_loan_for_item(book)
    assert (after.due, after.renewals) == (before.due, 0)


def test_the_readers_own_hold_does_not_stop_their_renewal(ledger: Ledger, registry: Registry) -> None:
    book, key, ref = lent(ledger, registry, 74)
    doors.place_hold(ledger, book, key, "capital", NOW)
    later = NOW + timedelta(days=10)
    ack = doors.commit_txn(ledger, txn("renew", book, ref, at=later), registry, later)
    assert ack.result == "committed"
    assert ack.due == rules.due_after(later, registry.scheme("bj-joint").renew_days)
    assert ledger.active_loan_for_item(book).due == ack.due


def test_a_renewal_past_the_limit_is_refused_and_counts_nothing(ledger: Ledger, registry: Registry) -> None:
    book, _key, ref = lent(ledger, registry, 75)
    limit = registry.scheme("bj-joint").max_renewals
    at = NOW
    for _ in range(limit):
        at += timedelta(days=5)
        assert doors.commit_txn(ledger, txn("renew", book, ref, at=at), registry, at).result == "committed"
    at += timedelta(days=5)
    due = ledger.active_loan_for_item(book).due
    ack = doors.commit_txn(ledger, txn("renew", book, ref, at=at), registry, at)
    assert (ack.result, ack.reason, ack.due) == ("rejected", "renew_limit", None)
    assert (ledger.active_loan_for_item(book).renewals, ledger.active_loan_for_item(book).due) == (limit, due)


def test_an_offline_renewal_the_rules_refuse_is_kept_with_the_due_date_shown_for_staff(
    ledger: Ledger, registry: Registry
) -> None:
    book, _key, ref = lent(ledger, registry, 76)
    other = add_reader(ledger, card("bj-joint", 77))
    doors.place_hold(ledger, book, other, "capital", NOW)
    later = NOW + timedelta(days=10)
    shown = later + timedelta(days=20)
    t = txn("renew", book, ref, mode="offline", at=later, due=shown)
    ack = doors.commit_txn(ledger, t, registry, later)
    assert (ack.result, ack.exception, ack.due) == ("committed", "renew_on_hold", shown)
    loan = ledger.active_loan_for_item(book)
    assert (loan.due, loan.renewals) == (shown, 1)
    assert [(e.txn_id, e.reason) for e in ledger.exceptions()] == [(t.txn_id, "renew_on_hold")]


def test_an_offline_renewal_without_a_due_date_the_rules_refuse_changes_no_loan(
    ledger: Ledger, registry: Registry
) -> None:
    book, _key, ref = lent(ledger, registry, 78)
    other = add_reader(ledger, card("bj-joint", 79))
    doors.place_hold(ledger, book, other, "capital", NOW)
    before = ledger.active_loan_for_item(book)
    t = txn("renew", book, ref, mode="offline", at=NOW + timedelta(days=1))
    ack = doors.commit_txn(ledger, t, registry, NOW + timedelta(days=1))
    assert (ack.result, ack.exception, ack.due) == ("committed", "renew_on_hold", None)
    after = ledger.active_loan_for_item(book)
    assert (after.due, after.renewals) == (before.due, 0)
