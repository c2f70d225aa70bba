"""The live checkin (`return_route`'s 09, made while the kiosk waits for the route): in
the ledger before it leaves, so an answer lost on the wire is a retry, not a first send;
and a refusal recorded as one, judged as the drainer judges a queued 09's
(`ils_queue.checkin_refusal_agrees`), with the kiosk told the hub's own route.

Through the real path: the hub's answers, intake and drainer, our SIP2 client over TLS,
the ILS simulator (pysip2's server) on a real socket, whose journal counts each 09 and
whose `lose_answers` drops an answer after the system acted on the request.
"""

from __future__ import annotations

import pytest

from contract import messages
from contract.privacy import card_hash
from hub.rules.rules import ItemRecord
from tests.hub import ledger_doors as doors
from tests.hub.ils.conftest import BOOK, BOOK_TITLE, DONGCHENG_CARD, DONGCHENG_PIN, Hub, now
from tests.hub.ils.test_ils_path import borrow, sign_in
from tests.hub.ils.test_refusals import settle
from tests.ils_peer import Ils

HOLDER = card_hash("bj-joint", "0101000060018")  # another Dongcheng reader, holding the book in the ledger


def lent(hub: Hub) -> None:
    """BOOK lent live at Dongcheng and its 11 delivered: the system was told of the loan."""
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    ack = borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    assert (ack.result, ack.exception) == ("committed", None)
    assert [c[1:] for c in doors.ils_calls(hub.ledger, "east")] == [("checkout", BOOK, ack.txn_id, "delivered")]


def returned(hub: Hub, library: str = "dongcheng") -> tuple[messages.Response, messages.Ack]:
    """The kiosk asks where BOOK goes, its diverter sends it there, and its return txn follows."""
    route = hub.ask(messages.ReturnRoute(op="return_route", item=BOOK, library_id=library))
    assert route.allowed
    ack = hub.commit(kind="return", item=BOOK, library_id=library, route=route.route)
    assert ack.result == "committed", ack
    return route, ack


def checkins(hub: Hub) -> list[tuple[str, str | None, int, str | None]]:
    """(state, txn_id, attempts, last_error) of every 09 row of BOOK."""
    rows = hub.ledger.db.query(
        "SELECT state, txn_id, attempts, last_error FROM ils_queue WHERE op = 'checkin' AND item = ? ORDER BY id",
        (BOOK,),
    )
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


@pytest.mark.parametrize(
    "restart, losses",
    [(True, 1), (False, 2), (False, 1)],
    ids=["fresh-connection-after-a-restart", "the-clients-resend-lost-too", "answered-to-the-clients-resend"],
)
def test_a_live_checkin_whose_answer_is_lost_after_the_system_applied_it_is_delivered_once_with_nothing_for_staff(
    ils: Ils, make_hub, restart: bool, losses: int
):
    """The 09 checks the book in at the system and the connection drops before its answer.
    On a fresh connection (the system restarted) our client cannot resend it; when its
    resend's answer is lost too, neither: the kiosk is told the hub's route, and the
    return txn finds the 09 recorded (pending), so the drainer's send is a retry whose
    "item not checked out" means the first one arrived. When the resend is answered, that
    "not checked out" is the echo of the first 09: checked in."""
    hub = make_hub(ils)
    lent(hub)
    if restart:
        ils.stop()
        ils.start()
    assert ils.sim is not None
    ils.sim.lose_answers("09", times=losses)
    route, ack = returned(hub)
    assert (route.route, route.route_library) == ("shelve", "dongcheng")  # home, here: the hub's rule
    assert ack.exception is None
    settle(hub)
    assert ils.sim.answer_loss.lost["09"] == losses
    sent = ils.journal.requests("09", item=BOOK)
    assert [r.ok for r in sent] == ["1"] + ["0"] * (len(sent) - 1)  # checked in once, by the first 09
    assert ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]
    calls = checkins(hub)
    assert [c[:2] for c in calls] == [("delivered", ack.txn_id)]  # one call, the live one, claimed by the txn
    note = calls[0][3]
    assert note is not None and "taken as arrived" in note
    assert hub.ledger.exceptions() == []
    assert hub.ledger.ils_links(("east",))[0].conflicts == 0
    assert hub.ledger.active_loan_for_item(BOOK) is None


def test_a_live_checkin_the_system_refuses_of_a_book_it_was_told_is_lent_is_a_checkin_refused_for_staff(
    ils: Ils, make_hub
):
    """The system was told of the loan (its 11 delivered) but has the book in (checked in
    at its own desk): its "item not checked out" to the live 09 disagrees with the
    ledger, as it would to a queued one. One conflict, named by the return txn, and no
    second 09 for the same return."""
    hub = make_hub(ils)
    lent(hub)
    assert ils.sim is not None
    assert ils.sim.circulation.checkin(BOOK, location="dongcheng").ok  # at the system's own desk
    _route, ack = returned(hub)
    settle(hub)
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["0"]  # the live one, refused; no other
    assert [e.reason for e in hub.ledger.exceptions()] == ["ils_checkin_refused"]
    [shown] = hub.ledger.staff_exceptions()
    assert shown.txn_id == ack.txn_id
    assert "item not checked out" in shown.summary  # the system's own words (AF)
    assert [c[:2] for c in checkins(hub)] == [("conflict", ack.txn_id)]
    assert hub.ledger.ils_links(("east",))[0].conflicts == 1
    assert hub.ledger.active_loan_for_item(BOOK) is None  # the ledger keeps what happened at the kiosk


def test_after_a_refused_live_checkin_the_kiosk_is_told_the_hubs_route_not_the_refusals(ils: Ils, make_hub):
    """The ledger holds the book for a reader who collects it at Capital; the refused 09
    names no route (no CV, no CT), from which the answer's reading would shelve the book
    at home. The system did not check it in: the hub's own rule routes it (to the hold's
    library), and the return txn is judged against that same route (no `route_corrected`)."""
    hub = make_hub(ils)
    lent(hub)
    doors.place_hold(hub.ledger, BOOK, HOLDER, "capital", now())
    assert ils.sim is not None
    assert ils.sim.circulation.checkin(BOOK, location="dongcheng").ok
    route, ack = returned(hub)
    assert (route.route, route.route_library) == ("transfer", "capital")  # rules.route_return: the hold wins
    assert ack.exception is None  # the diverter did as told; the ledger agrees
    settle(hub)
    assert doors.transfers(hub.ledger, BOOK) == [("dongcheng", "capital")]
    assert [e.reason for e in hub.ledger.exceptions()] == ["ils_checkin_refused"]  # the refusal, judged


def test_a_live_checkin_refused_of_a_book_the_system_was_never_told_is_lent_agrees(ils: Ils, make_hub):
    """No loan of the book open in the ledger: the system's "not checked out" is what the
    hub holds too. Delivered with the reason, nothing for staff, no second 09."""
    hub = make_hub(ils)
    doors.add_item(hub.ledger, ItemRecord(BOOK, BOOK_TITLE, "dongcheng", "on_shelf"))  # as `seed_demo` has it
    _route, ack = returned(hub)
    settle(hub)
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["0"]
    calls = checkins(hub)
    assert [c[:2] for c in calls] == [("delivered", ack.txn_id)]
    note = calls[0][3]
    assert note is not None and "the ledger had no loan of the book open" in note
    assert hub.ledger.exceptions() == []


def test_a_live_checkin_that_never_left_is_no_call_and_the_return_queues_a_first_send(ils: Ils, make_hub):
    """The system is down when the kiosk asks: the 09 never leaves (connecting fails,
    `Sip2Client.request_sent` is False), so the row recorded for it is dropped and the
    return txn queues its own 09 with no send counted: a later "not checked out" to it is
    judged as a first send's, and an outage spends none of its `max_invalid` tries."""
    hub = make_hub(ils)
    lent(hub)
    ils.stop()
    route, ack = returned(hub)
    assert (route.route, route.route_library) == ("shelve", "dongcheng")
    assert checkins(hub) == [("queued", ack.txn_id, 0, None)]
    ils.start()
    settle(hub)
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1"]
    assert [c[0] for c in checkins(hub)] == ["delivered"]
    assert hub.ledger.exceptions() == []
