"""When a 09 answered "item not checked out" is a conflict for staff, and when it only
says what the hub itself told the system (found by the chaos soak, `make soak`).

A reader borrows a book at a kiosk whose txns reach the hub late (its route is down, or
it is slow), and the next reader returns the book at a kiosk heard at once. The hub sends
the return's 09 first: the system, never told of that loan, answers "item not checked
out". When the loan arrives, its 11 is superseded (the system is past it), so both ends
end with the book in: that refusal is no disagreement. A return of a book the system
*was* told is lent, but which it has in (checked in at its own desk), is one.

Through the real path: the hub's intake and drainer, our SIP2 client over TLS, the ILS
simulator (pysip2's server) on a real socket; `at` is set on each txn so the readers'
order is fixed whatever the machine's speed.
"""

from __future__ import annotations

from datetime import timedelta

from contract import messages
from hub.rules.rules import ItemRecord
from tests.hub import ledger_doors as doors
from tests.hub.ils.conftest import BOOK, BOOK_TITLE, DONGCHENG_CARD, DONGCHENG_PIN, Hub, now
from tests.hub.ils.test_ils_path import sign_in
from tests.hub.ils.test_refusals import drain_to_conflict, settle
from tests.ils_peer import Ils


def ready(hub: Hub) -> None:
    """The book in the hub's catalogue (as `seed_demo` has it) and the reader signed in."""
    doors.add_item(hub.ledger, ItemRecord(BOOK, BOOK_TITLE, "dongcheng", "on_shelf"))
    sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")


def told(hub: Hub, kiosk: str, kind: str, at_s: float, start: object) -> messages.Ack:
    """A txn of `kind` of BOOK at Dongcheng that kiosk `kiosk` made offline `at_s` seconds
    after `start`, heard by the hub now (its SIP2 call queued)."""
    fields: dict[str, object] = {
        "kind": kind, "item": BOOK, "library_id": "dongcheng", "mode": "offline",
        "at": start + timedelta(seconds=at_s),  # type: ignore[operator]
    }  # fmt: skip
    if kind == "loan":
        fields["card"] = DONGCHENG_CARD.model_dump()
    ack = hub.commit(kiosk, **fields)
    assert ack.result == "committed", ack
    return ack


def test_a_return_heard_before_the_loan_it_ends_is_no_conflict_and_both_ends_have_the_book_in(ils: Ils, make_hub):
    hub = make_hub(ils)
    ready(hub)
    start = now() - timedelta(minutes=5)
    first = told(hub, "k2", "loan", 0, start)
    back = told(hub, "k4", "return", 1, start)
    settle(hub)
    # k1's loan (at +2) is still on its way; k4's return of the book (at +3) is heard now
    again = told(hub, "k4", "return", 3, start)
    settle(hub)
    late = told(hub, "k1", "loan", 2, start)
    settle(hub)

    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    assert [r.ok for r in ils.journal.requests("11", item=BOOK)] == ["1"]  # the late loan never sent
    calls = {c[3]: c[4] for c in doors.ils_calls(hub.ledger, "east")}
    assert calls == {first.txn_id: "delivered", back.txn_id: "delivered", again.txn_id: "delivered",
                     late.txn_id: "superseded"}  # fmt: skip
    [note] = hub.ledger.db.query("SELECT last_error FROM ils_queue WHERE txn_id = ?", (again.txn_id,))
    assert "the ledger had no loan of the book open" in note[0]
    assert hub.ledger.exceptions() == []  # nothing for staff: both ends agree
    assert ils.sim is not None and ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]
    assert hub.ledger.active_loan_for_item(BOOK) is None  # the late loan, ended by the return
    assert len(hub.ledger.db.query("SELECT 1 FROM loans WHERE item = ? AND closed_by = ?", (BOOK, again.txn_id))) == 1


def test_a_return_of_a_book_the_system_was_told_is_lent_but_has_in_is_a_checkin_refused_for_staff(
    ils: Ils, make_hub
):
    hub = make_hub(ils)
    ready(hub)
    start = now() - timedelta(minutes=5)
    told(hub, "k2", "loan", 0, start)
    settle(hub)
    assert ils.sim is not None
    assert ils.sim.circulation.checkin(BOOK, location="dongcheng").ok  # at the system's own desk
    back = told(hub, "k4", "return", 1, start)
    summary = drain_to_conflict(hub, ils, back, "ils_checkin_refused")
    assert "item not checked out" in summary  # the system's own words (AF)
