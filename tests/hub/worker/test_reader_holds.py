"""What the greeting tells a reader about their holds and the loans falling due (issue 19
item 3), and that a held book is lent to its reader alone: the hub's answers and the
ledger's commits, without a broker (a ledger, a registry, a clock)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from contract import messages
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from tests.hub import ledger_doors as doors

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def ledger(db_url: str, registry: Registry) -> Iterator[Ledger]:
    """The demo ledger on SQLite and on PostgreSQL, with serials up to 22: the demo holds'
    books (serials 21 and 22) are in the catalogue."""
    with Ledger.open(db_url) as led:
        led.seed_demo(registry, per_member=22)
        yield led


def answers_at(ledger: Ledger, registry: Registry, now: datetime = NOW) -> RequestAnswers:
    return RequestAnswers(ledger, registry, lambda: now, local_tz=BEIJING, offline_max_items=2)


def holder(registry: Registry) -> catalogue.DemoReader:
    return next(r for r in catalogue.generate_readers(registry) if r.number == catalogue.HOLDER_NUMBER)


def other_reader(registry: Registry) -> catalogue.DemoReader:
    return next(
        r
        for r in catalogue.generate_readers(registry)
        if r.scheme == "bj-joint" and r.state == "valid" and r.number != catalogue.HOLDER_NUMBER
    )


def card(reader: catalogue.DemoReader) -> messages.CardRef:
    return messages.CardRef(scheme=reader.scheme, number=reader.number)


def greeted(ask: RequestAnswers, reader: catalogue.DemoReader) -> messages.Response:
    right = ask.answer(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin), "k1")
    assert right.pin_ok and right.session_token
    return right


def loan_txn(reader: catalogue.DemoReader, item: str, at: datetime, library: str = "capital") -> messages.Txn:
    return messages.Txn(
        txn_id=f"k1-{secrets.token_hex(8)}",
        kiosk_id="k1",
        library_id=library,
        kind="loan",
        card=card(reader),
        item=item,
        at=at,
        mode="online",
    )


def test_the_greeting_lists_holds_ready_and_in_transit_with_the_pickup_librarys_name(
    ledger: Ledger, registry: Registry
) -> None:
    resp = greeted(answers_at(ledger, registry), holder(registry))
    assert resp.holds is not None
    by_item = {h.item: h for h in resp.holds}
    ready = catalogue.item_barcode(registry, "capital", 22)
    moving = catalogue.item_barcode(registry, "haidian", 21)
    assert by_item[ready].status == "ready" and by_item[ready].pickup_library == "capital"
    assert by_item[ready].pickup_library_name == messages.Bilingual(zh="首都图书馆", en="Capital Library of China")
    assert by_item[ready].title == ledger.item(ready).title
    assert by_item[moving].status == "in_transit" and by_item[moving].pickup_library == "chaoyang"
    assert by_item[moving].pickup_library_name.zh == "朝阳区图书馆"
    # the holds whose books other readers still have: nothing to fetch or expect yet
    for still_out in (catalogue.item_barcode(registry, "xicheng", 21), catalogue.item_barcode(registry, "dongcheng", 21)):
        assert still_out not in by_item
    assert {h.status for h in resp.holds} == {"ready", "in_transit"}


def test_a_reader_without_holds_gets_no_holds_field_and_a_lookup_before_the_pin_tells_nothing(
    ledger: Ledger, registry: Registry
) -> None:
    ask = answers_at(ledger, registry)
    nothing = greeted(ask, other_reader(registry))
    assert (nothing.holds, nothing.due_soon) == (None, None)
    assert b"holds" not in messages.encode(nothing)  # an earlier kiosk still parses it
    before = ask.answer(
        messages.ReaderLookup(op="reader_lookup", card=card(holder(registry)), library_id="capital"), "k1"
    )
    assert (before.holds, before.due_soon) == (None, None)


def test_loans_due_within_three_days_of_the_hubs_date_are_named_and_overdue_ones_are_not(
    ledger: Ledger, registry: Registry
) -> None:
    reader = other_reader(registry)
    book = catalogue.item_barcode(registry, "capital", 3)
    ack = doors.commit_txn(ledger, loan_txn(reader, book, NOW), registry, NOW)
    assert ack is not None and ack.result == "committed"
    due = ledger.active_loan_for_item(book).due
    assert due == rules.due_after(NOW, registry.scheme("bj-joint").loan_days)
    due_day = due.astimezone(BEIJING).date()

    def due_soon_at(now: datetime) -> list[str] | None:
        return greeted(answers_at(ledger, registry, now), reader).due_soon

    # 10:00 Beijing, four local days before the due day: not yet; three days before: yes
    four_before = datetime.combine(due_day - timedelta(days=4), datetime.min.time(), BEIJING) + timedelta(hours=10)
    assert due_soon_at(four_before) is None
    assert due_soon_at(four_before + timedelta(days=1)) == [book]
    assert due_soon_at(due - timedelta(minutes=1)) == [book]
    assert due_soon_at(due + timedelta(minutes=1)) is None  # overdue: not "due soon"


def test_the_held_book_is_lent_to_its_reader_alone_and_the_pickup_clears_the_hold(
    ledger: Ledger, registry: Registry
) -> None:
    ask = answers_at(ledger, registry)
    book = catalogue.item_barcode(registry, "capital", 22)
    someone, mine = other_reader(registry), holder(registry)

    def checkout(reader: catalogue.DemoReader) -> messages.Response:
        token = greeted(ask, reader).session_token
        return ask.answer(
            messages.CheckoutAuth(
                op="checkout_auth", card=card(reader), item=book, library_id="capital", session_token=token
            ),
            "k1",
        )

    refused = checkout(someone)
    assert (refused.allowed, refused.reason_code) == (False, "item_on_hold")
    assert "reserved for another reader" in refused.message.en and "别的读者" in refused.message.zh
    assert refused.title == ledger.item(book).title  # the line can name the book
    rejected = doors.commit_txn(ledger, loan_txn(someone, book, NOW), registry, NOW)
    assert (rejected.result, rejected.reason) == ("rejected", "item_on_hold")

    allowed = checkout(mine)
    assert allowed.allowed and allowed.due is not None
    lent = doors.commit_txn(ledger, loan_txn(mine, book, NOW), registry, NOW)
    assert lent.result == "committed" and lent.exception in (None, "no_session_token")
    assert ledger.waiting_hold(book) is None and ledger.item(book).state == "on_loan"
    again = greeted(ask, mine)
    assert book not in {h.item for h in again.holds or ()}
    assert book in {loan.item for loan in again.loans}


def test_a_return_that_fills_a_hold_goes_to_the_hold_shelf_and_the_greeting_then_says_ready(
    ledger: Ledger, registry: Registry
) -> None:
    book = catalogue.item_barcode(registry, "xicheng", 21)  # on loan elsewhere, held for pickup at Chaoyang
    ask = answers_at(ledger, registry)
    route = ask.answer(messages.ReturnRoute(op="return_route", item=book, library_id="chaoyang"))
    assert (route.route, route.route_library) == ("hold", "chaoyang")
    back = messages.Txn(
        txn_id=f"k1-{secrets.token_hex(8)}", kiosk_id="k1", library_id="chaoyang", kind="return",
        item=book, at=NOW, mode="online", route="hold",
    )  # fmt: skip
    assert doors.commit_txn(ledger, back, registry, NOW).result == "committed"
    held = {h.item: h for h in greeted(ask, holder(registry)).holds}
    assert (held[book].status, held[book].pickup_library) == ("ready", "chaoyang")
