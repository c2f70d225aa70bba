"""The alliance operations at a member's own system, end to end below MQTT: the hub's
answers and commits against the real ILS simulator over TCP, counted by its journal."""

from __future__ import annotations

import time
from datetime import timedelta

from contract import messages
from contract.card_schemes import make_card_number
from contract.privacy import card_hash
from tests.hub import ledger_doors as doors
from tests.hub.ils.conftest import (
    BOOK,
    BOOK_TITLE,
    DONGCHENG_CARD,
    DONGCHENG_PIN,
    NLC_CARD,
    NLC_PIN,
    OTHER_BOOK,
    THIRD_BOOK,
    Hub,
    now,
)


def sign_in(hub: Hub, card: messages.CardRef, pin: str, library: str) -> str:
    lookup = hub.ask(messages.ReaderLookup(op="reader_lookup", card=card, library_id=library))
    assert lookup.state == "valid", lookup
    answer = hub.ask(messages.PinCheck(op="pin_check", card=card, pin=pin))
    assert answer.pin_ok, answer
    assert answer.session_token
    return answer.session_token


def borrow(hub: Hub, card: messages.CardRef, item: str, library: str, token: str) -> messages.Ack:
    answer = hub.ask(
        messages.CheckoutAuth(op="checkout_auth", card=card, item=item, library_id=library, session_token=token)
    )
    assert answer.allowed, answer
    return hub.commit(
        kind="loan", card=card.model_dump(), item=item, library_id=library, due=answer.due, session_token=token
    )


def give_back(hub: Hub, item: str, library: str) -> tuple[messages.Response, messages.Ack]:
    route = hub.ask(messages.ReturnRoute(op="return_route", item=item, library_id=library))
    ack = hub.commit(kind="return", item=item, library_id=library, route=route.route)
    return route, ack


def test_a_joint_card_of_a_sip2_member_is_looked_up_and_its_pin_checked_at_its_system(ils, make_hub):
    hub = make_hub(ils)
    lookup = hub.ask(messages.ReaderLookup(op="reader_lookup", card=DONGCHENG_CARD, library_id="dongcheng"))
    assert lookup.state == "valid" and lookup.allowed and lookup.masked_name is None  # nothing before the PIN
    wrong = hub.ask(messages.PinCheck(op="pin_check", card=DONGCHENG_CARD, pin="000000"))
    right = hub.ask(messages.PinCheck(op="pin_check", card=DONGCHENG_CARD, pin=DONGCHENG_PIN))
    assert wrong.pin_ok is False and wrong.reason_code == "pin_wrong"
    assert right.pin_ok is True and right.session_token and right.masked_name == "冯*"
    asked = ils.journal.requests("63", patron=DONGCHENG_CARD.number)
    assert len(asked) == 3  # the lookup, then each PIN (AD) at the card's own system
    assert all(r.institution == "capital" for r in asked)


def test_an_nlc_card_is_not_asked_of_the_sip2_system(ils, make_hub):
    hub = make_hub(ils)
    sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    assert ils.journal.count("63") == 0


def test_a_dongcheng_book_borrowed_on_a_dongcheng_card_is_checked_out_to_the_reader(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    answer = hub.ask(
        messages.CheckoutAuth(
            op="checkout_auth", card=DONGCHENG_CARD, item=BOOK, library_id="dongcheng", session_token=token
        )
    )
    assert answer.allowed and answer.title == BOOK_TITLE  # the ILS's title, through gb18030 too
    assert answer.due is not None
    ack = hub.commit(
        kind="loan", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
        due=answer.due, session_token=token,
    )  # fmt: skip
    assert ack.result == "committed" and ack.exception is None
    checkouts = ils.journal.requests("11", item=BOOK)
    assert [r.patron for r in checkouts] == [DONGCHENG_CARD.number]
    loan = hub.ledger.active_loan_for_item(BOOK)
    assert loan is not None and loan.card_hash == card_hash("bj-joint", DONGCHENG_CARD.number)
    assert loan.due.date() == answer.due.date()  # the ledger keeps the ILS's due date
    assert doors.ils_calls(hub.ledger, "east") == [("east", "checkout", BOOK, ack.txn_id, "delivered")]


def test_an_nlc_reader_borrows_a_dongcheng_book_through_the_guest_patron(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    ack = borrow(hub, NLC_CARD, BOOK, "capital", token)
    assert ack.result == "committed" and ack.exception is None
    assert [r.patron for r in ils.journal.requests("11", item=BOOK)] == ["GUEST-NLC"]
    loan = hub.ledger.active_loan_for_item(BOOK)
    assert loan is not None and loan.card_hash == card_hash("nlc", NLC_CARD.number)  # the real reader


def test_without_a_guest_patron_for_the_scheme_the_loan_is_refused_in_both_languages(ils, make_hub):
    hub = make_hub(ils, univ="GUEST-UNIV")  # no nlc entry
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    answer = hub.ask(
        messages.CheckoutAuth(op="checkout_auth", card=NLC_CARD, item=BOOK, library_id="capital", session_token=token)
    )
    assert answer.allowed is False and answer.reason_code == "ils_no_guest_patron"
    assert answer.message is not None and answer.message.zh and answer.message.en
    assert ils.journal.count("11") == 0


def test_a_return_at_another_member_is_checked_in_there_and_routed_by_the_ils(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    borrow(hub, NLC_CARD, BOOK, "capital", token)
    # The hub gets the return a while later: sooner, at another library, it cannot be
    # true and the loan would stay open for staff (hub/ledger/txn_plausibility.py).
    hub.intake.clock = lambda: now() + timedelta(minutes=15)
    route, ack = give_back(hub, BOOK, "chaoyang")
    assert (ack.result, ack.exception) == ("committed", None)
    assert (route.route, route.route_library) == ("transfer", "dongcheng")  # CV 04, CT dongcheng
    checkins = ils.journal.requests("09", item=BOOK)
    assert [(r.location, r.ok) for r in checkins] == [("chaoyang", "1")]  # AP = the kiosk's library
    assert hub.ledger.active_loan_for_item(BOOK) is None
    assert [c[1:] for c in doors.ils_calls(hub.ledger, "east")] == [
        ("checkout", BOOK, "T0001-k1-0000", "delivered"),
        ("checkin", BOOK, ack.txn_id, "delivered"),
    ]


def test_a_return_that_cannot_be_true_of_a_members_book_is_held_in_the_ledger(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    borrow(hub, NLC_CARD, BOOK, "capital", token)
    _route, ack = give_back(hub, BOOK, "chaoyang")  # at once, across town
    assert (ack.result, ack.exception) == ("committed", "return_implausible")
    assert hub.ledger.active_loan_for_item(BOOK) is not None


def test_with_the_ils_down_returns_still_commit_and_each_reaches_it_once_when_it_is_back(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    for item in (BOOK, OTHER_BOOK):
        borrow(hub, DONGCHENG_CARD, item, "dongcheng", token)
    ils.stop()
    routes = [give_back(hub, item, "dongcheng") for item in (BOOK, OTHER_BOOK)]
    assert all(ack.result == "committed" and ack.exception is None for _, ack in routes)
    assert all(route.route == "shelve" for route, _ in routes)  # the hub's own rule meanwhile
    assert hub.drain() == 0  # still down: nothing sent, nothing lost
    link = hub.ledger.ils_links(("east",))[0]
    assert (link.state, link.queued) == ("down", 2) and link.last_error
    # a loan while the book's system is down is refused, with words for the reader
    refused = hub.ask(
        messages.CheckoutAuth(
            op="checkout_auth", card=DONGCHENG_CARD, item=THIRD_BOOK, library_id="dongcheng", session_token=token
        )
    )
    assert refused.allowed is False and refused.reason_code == "ils_unavailable"

    ils.start()
    deadline = time.monotonic() + 5
    while hub.ledger.ils_links(("east",))[0].queued and time.monotonic() < deadline:
        hub.drain()
        time.sleep(0.05)
    hub.drain()
    assert [(r.item, r.ok) for r in ils.journal.requests("09")] == [(BOOK, "1"), (OTHER_BOOK, "1")]
    assert hub.ledger.ils_links(("east",))[0].queued == 0
    assert hub.ledger.ils_links(("east",))[0].state == "up"
    hub.drain()
    assert ils.journal.count("09") == 2  # exactly once each


def test_an_offline_loan_arriving_later_is_queued_as_a_checkout_in_order(ils, make_hub):
    hub = make_hub(ils)
    sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    ack = hub.commit(kind="loan", card=DONGCHENG_CARD.model_dump(), item=THIRD_BOOK, library_id="dongcheng", mode="offline")
    back = hub.commit(kind="return", item=THIRD_BOOK, library_id="dongcheng", mode="offline")
    assert ack.result == back.result == "committed"
    assert [c[1] for c in doors.ils_calls(hub.ledger, "east")] == ["checkout", "checkin"]
    hub.drain()
    handled = [(r.command, r.item) for r in ils.journal.requests() if r.item == THIRD_BOOK]
    assert handled == [("11", THIRD_BOOK), ("09", THIRD_BOOK)]
    assert [c[4] for c in doors.ils_calls(hub.ledger, "east")] == ["delivered", "delivered"]


def test_a_return_of_a_book_nobody_lent_is_told_after_an_outage_and_is_no_conflict(ils, make_hub):
    hub = make_hub(ils)
    ils.stop()
    ack = hub.commit(kind="return", item=OTHER_BOOK, library_id="dongcheng", mode="offline")
    assert ack.result == "committed"
    ils.start()
    deadline = time.monotonic() + 5
    while hub.ledger.ils_links(("east",))[0].queued and time.monotonic() < deadline:
        hub.drain()
        time.sleep(0.05)
    # the book was out at neither end: "not checked out" agrees with the ledger, nothing
    # for staff of the ILS (a real disagreement: tests/hub/ils/test_checkin_refusals.py)
    assert [r.ok for r in ils.journal.requests("09", item=OTHER_BOOK)] == ["0"]
    assert [c[4] for c in doors.ils_calls(hub.ledger, "east")] == ["delivered"]
    assert not [e for e in hub.ledger.exceptions() if e.reason.startswith("ils_")]
    assert hub.ledger.ils_links(("east",))[0].conflicts == 0


def test_a_renewal_of_a_dongcheng_book_is_made_at_its_system_with_its_due_date(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    answer = hub.ask(
        messages.RenewAuth(op="renew_auth", card=DONGCHENG_CARD, item=BOOK, library_id="dongcheng", session_token=token)
    )
    assert answer.allowed, answer
    ack = hub.commit(
        kind="renew", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
        due=answer.due, session_token=token,
    )  # fmt: skip
    assert ack.result == "committed"
    assert [r.patron for r in ils.journal.requests("29", item=BOOK)] == [DONGCHENG_CARD.number]
    assert [c[1:] for c in doors.ils_calls(hub.ledger, "east")][-1] == ("renew", BOOK, ack.txn_id, "delivered")


def test_a_lookup_while_the_cards_system_is_down_is_refused_with_a_reason(ils, make_hub):
    hub = make_hub(ils)
    ils.stop()
    lookup = hub.ask(messages.ReaderLookup(op="reader_lookup", card=DONGCHENG_CARD, library_id="dongcheng"))
    assert lookup.state == "unknown" and lookup.reason_code == "ils_unavailable"
    assert lookup.message is not None and "system" in lookup.message.en


def test_books_of_members_not_listed_stay_on_the_hubs_catalogue(ils, make_hub, registry):
    from hub.ledger import catalogue
    from hub.rules.rules import ItemRecord

    hub = make_hub(ils)
    barcode = catalogue.item_barcode(registry, "capital", 1)
    doors.add_item(hub.ledger, ItemRecord(barcode, "边城 / 沈从文 著", "capital", "on_shelf"))
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    ack = borrow(hub, NLC_CARD, barcode, "capital", token)
    assert ack.result == "committed"
    route, _ = give_back(hub, barcode, "capital")
    assert route.route == "shelve"
    assert not {"11", "09", "63", "29"} & set(ils.journal.counts())
    assert doors.ils_calls(hub.ledger) == []


def test_a_kiosk_walking_district_numbers_cannot_enumerate_the_members_patrons(ils, make_hub):
    """District numbers are passed on to the member's system: the walking guard
    (hub/worker/card_walk_guard.py) pauses the kiosk before the system is asked any further."""
    hub = make_hub(ils)
    numbers = [make_card_number("bj-joint", serial, district="01") for serial in range(50_000, 50_200)]
    assert hub.gateway.card_system("bj-joint", numbers[0]) == "east"
    answered = [
        hub.ask(messages.ReaderLookup(op="reader_lookup", card=messages.CardRef(scheme="bj-joint", number=n),
                                      library_id="dongcheng"), kiosk_id="k-walk")
        for n in numbers
    ]  # fmt: skip
    asked = sum(len(ils.journal.requests("63", patron=n)) for n in numbers)
    assert asked <= 10 and sum(1 for a in answered if a.ok) == asked
    assert answered[-1].error == "card_checks_paused"
    assert "card_walking" in {f.flag for f in hub.ledger.kiosk_flags("k-walk")}
    # a reader at another kiosk is still looked up at the system
    other = hub.ask(messages.ReaderLookup(op="reader_lookup", card=DONGCHENG_CARD, library_id="dongcheng"), "k2")
    assert other.state == "valid"


# ils_sim/data/dongcheng.toml: on loan there, and held for a reader who picks it up at capital.
HELD_BOOK = "30101000000216"


def test_a_book_its_system_sends_to_the_hold_shelf_is_on_hold_in_the_ledger_not_in_transit(ils, make_hub):
    """The 09 says "hold here" (CV 01); the hub's own rule, knowing no hold, would send the
    book home. The ledger follows the route the kiosk was given and its diverter used."""
    hub = make_hub(ils)
    route, ack = give_back(hub, HELD_BOOK, "capital")
    assert (route.route, route.route_library) == ("hold", "capital")
    assert (ack.result, ack.exception) == ("committed", None)  # the system decided: nothing to correct
    item = hub.ledger.item(HELD_BOOK)
    assert item is not None and item.state == "on_hold"
    assert doors.transfers(hub.ledger, HELD_BOOK) == []
    assert hub.ledger.exceptions() == []
    assert [c[1:] for c in doors.ils_calls(hub.ledger, "east")] == [("checkin", HELD_BOOK, ack.txn_id, "delivered")]


def test_a_return_diverted_otherwise_than_its_systems_09_is_recorded_as_diverted_for_staff(ils, make_hub):
    hub = make_hub(ils)
    route = hub.ask(messages.ReturnRoute(op="return_route", item=HELD_BOOK, library_id="capital"))
    assert route.route == "hold"
    ack = hub.commit(kind="return", item=HELD_BOOK, library_id="capital", route="transfer")
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    item = hub.ledger.item(HELD_BOOK)
    assert item is not None and item.state == "in_transit"
    assert doors.transfers(hub.ledger, HELD_BOOK) == [("capital", "dongcheng")]
    [shown] = hub.ledger.staff_exceptions()
    assert "would have sent it to the hold shelf at capital" in shown.summary


def _lent_returned_lent_arriving_out_of_order(hub: Hub, ils_up_between: bool) -> None:
    """Readers were told: THIRD_BOOK lent at k1, returned at k2, lent again at k1. The
    hub hears the two loans first (k2's return comes in late, after its route came back)."""
    t1 = now() - timedelta(minutes=3)
    loan = {"kind": "loan", "card": DONGCHENG_CARD.model_dump(), "item": THIRD_BOOK, "library_id": "dongcheng",
            "mode": "offline", "due": (t1 + timedelta(days=30)).isoformat()}  # fmt: skip
    assert hub.commit("k1", **loan, at=t1.isoformat()).result == "committed"
    if ils_up_between:
        hub.drain()
    loan["due"] = (t1 + timedelta(days=31)).isoformat()
    assert hub.commit("k1", **loan, at=(t1 + timedelta(minutes=2)).isoformat()).result == "committed"
    if ils_up_between:
        hub.drain()
    late = hub.commit("k2", kind="return", item=THIRD_BOOK, library_id="dongcheng", mode="offline",
                      at=(t1 + timedelta(minutes=1)).isoformat())  # fmt: skip
    assert late.result == "committed"


def test_calls_owed_while_the_ils_was_down_reach_it_in_the_order_readers_were_told(ils, make_hub):
    """Found by the chaos soak (bench/chaos.py): the queue was sent in arrival order, so
    the ILS saw loan, loan, return and ended with the book on the shelf that the reader
    had been told was lent."""
    hub = make_hub(ils)
    ils.stop()
    _lent_returned_lent_arriving_out_of_order(hub, ils_up_between=False)
    ils.start()
    deadline = time.monotonic() + 5
    while hub.ledger.ils_links(("east",))[0].queued and time.monotonic() < deadline:
        hub.drain()
        time.sleep(0.05)
    assert [r.command for r in ils.journal.requests() if r.item == THIRD_BOOK] == ["11", "09", "11"]
    assert ils.sim is not None and ils.sim.circulation.item(THIRD_BOOK).status == "charged"
    assert [c[4] for c in doors.ils_calls(hub.ledger, "east")] == ["delivered"] * 3


def test_a_late_call_the_ils_is_already_past_is_superseded_not_sent(ils, make_hub):
    """The same story with the ILS up: both loans reached it before the return that came
    between them arrived. Sending that checkin now would put a lent book on the shelf."""
    hub = make_hub(ils)
    _lent_returned_lent_arriving_out_of_order(hub, ils_up_between=True)
    hub.drain()
    assert [r.command for r in ils.journal.requests() if r.item == THIRD_BOOK] == ["11", "11"]
    assert ils.sim is not None and ils.sim.circulation.item(THIRD_BOOK).status == "charged"
    calls = doors.ils_calls(hub.ledger, "east")
    assert [(c[1], c[4]) for c in calls] == [("checkout", "delivered"), ("checkout", "delivered"),
                                             ("checkin", "superseded")]  # fmt: skip
