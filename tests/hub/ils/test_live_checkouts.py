"""Issue 16, finding 5: a member's system lends only inside the reader's PIN session, and
every book it lends is in the ledger. Against the real ILS simulator over TLS; its
journal and its own records say what it did."""

from __future__ import annotations

import time
from datetime import timedelta

from contract import messages
from hub.ils.ils_drainer import IlsDrainer
from hub.ledger.ils_live import UNCLAIMED
from tests.hub.ils.conftest import (
    BOOK,
    DONGCHENG_CARD,
    DONGCHENG_PIN,
    NLC_CARD,
    NLC_PIN,
    OTHER_BOOK,
    Hub,
    now,
)
from tests.hub.ils.test_ils_path import sign_in

GRACE_S = 300


def drainer_at(hub: Hub, seconds_later: float) -> IlsDrainer:
    """The system's drainer with its clock `seconds_later` than now (the grace passing)."""
    return IlsDrainer(
        "east", hub.pool, hub.ledger.ils_door(), "w1", lambda: now() + timedelta(seconds=seconds_later),
        backoff_min_s=0.05, backoff_max_s=0.2, live_grace_s=GRACE_S,
    )  # fmt: skip


def checkout(hub: Hub, card: messages.CardRef, item: str, token: str | None, kiosk: str = "k1") -> messages.Response:
    return hub.ask(
        messages.CheckoutAuth(op="checkout_auth", card=card, item=item, library_id="dongcheng", session_token=token),
        kiosk,
    )


def live_rows(hub: Hub) -> list[tuple[str, str, str | None]]:
    """(item, state, why) of every checkout the hub made at the system."""
    rows = hub.ledger.db.query("SELECT item, state, last_error FROM ils_queue WHERE op = 'checkout' ORDER BY id")
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_checkout_or_renew_auth_without_a_valid_session_token_never_reaches_the_members_system(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    nlc_token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    attempts = [
        (DONGCHENG_CARD, None, "k1"),  # no token: any card number a kiosk knows
        (DONGCHENG_CARD, token[:-6] + "AAAAAA", "k1"),  # forged
        (DONGCHENG_CARD, token, "k2"),  # another kiosk's
        (DONGCHENG_CARD, nlc_token, "k1"),  # another card's
    ]
    for card, tok, kiosk in attempts:
        for request in (
            messages.CheckoutAuth(op="checkout_auth", card=card, item=BOOK, library_id="dongcheng", session_token=tok),
            messages.RenewAuth(op="renew_auth", card=card, item=BOOK, library_id="dongcheng", session_token=tok),
        ):
            answer = hub.ask(request, kiosk)
            assert (answer.allowed, answer.reason_code) == (False, "session_required")
            assert answer.message is not None and "PIN" in answer.message.en
    assert ils.journal.count("11") == ils.journal.count("29") == 0  # the system was never asked
    assert live_rows(hub) == []
    assert ils.sim.circulation.item(BOOK).status == "available"


def test_a_checkout_no_loan_txn_follows_is_checked_back_in_after_the_grace_and_the_hub_says_why(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert checkout(hub, DONGCHENG_CARD, BOOK, token).allowed
    assert ils.sim.circulation.item(BOOK).status == "charged"  # the system lent it
    assert live_rows(hub) == [(BOOK, "live", None)]  # and the ledger knows, before any txn
    assert hub.ledger.ils_links(("east",))[0].live == 1

    assert drainer_at(hub, GRACE_S - 5).step() > 0  # inside the grace: left alone
    assert ils.journal.count("09", item=BOOK) == 0

    drainer_at(hub, GRACE_S + 1).step()  # the kiosk never sent the loan txn
    assert [(r.item, r.ok) for r in ils.journal.requests("09")] == [(BOOK, "1")]
    assert ils.sim.circulation.item(BOOK).status == "available"  # back on the system's shelf
    [(item, state, why)] = live_rows(hub)
    assert (item, state) == (BOOK, "checked_in")
    assert why is not None and "no loan txn from kiosk k1 within 300 s" in why
    assert hub.ledger.ils_links(("east",))[0].live == 0

    # The txn turns up after all (a kiosk cut off for longer than the grace): the reader
    # keeps the book and the system is told again, behind its 09.
    ack = hub.commit(kind="loan", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
                     session_token=token)  # fmt: skip
    assert ack.result == "committed"
    hub.drain()
    assert [(r.command, r.ok) for r in ils.journal.requests(item=BOOK)][-1] == ("11", "1")
    assert ils.sim.circulation.item(BOOK).status == "charged"


def test_a_checkout_its_loan_txn_claims_is_never_checked_back_in(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    answer = checkout(hub, DONGCHENG_CARD, BOOK, token)
    ack = hub.commit(kind="loan", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
                     due=answer.due, session_token=token)  # fmt: skip
    assert ack.result == "committed" and ack.exception is None
    drainer_at(hub, GRACE_S * 10).step()
    assert ils.journal.count("09") == 0 and ils.journal.count("11") == 1
    assert [(i, s) for i, s, _ in live_rows(hub)] == [(BOOK, "delivered")]


def test_an_unclaimed_checkout_the_system_will_not_check_in_is_shown_to_staff(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert checkout(hub, DONGCHENG_CARD, OTHER_BOOK, token).allowed
    assert ils.sim.circulation.checkin(OTHER_BOOK, location="dongcheng").ok  # at the desk, meanwhile
    drainer_at(hub, GRACE_S + 1).step()
    [(_, state, why)] = live_rows(hub)
    assert state == "conflict" and "the 09 was refused" in (why or "")
    link = hub.ledger.ils_links(("east",))[0]
    assert link.conflicts == 1  # `hub status` shows it on the system's line
    [exception] = [e for e in hub.ledger.exceptions() if e.reason == UNCLAIMED]
    assert OTHER_BOOK in exception.summary and "k1" in exception.summary
    assert DONGCHENG_CARD.number not in exception.summary


def test_a_checkout_whose_outcome_is_unknown_stays_in_the_ledger_until_a_09_settles_it(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    ils.stop()  # the pool's open connection dies under the checkout
    refused = checkout(hub, DONGCHENG_CARD, BOOK, token)
    assert (refused.allowed, refused.reason_code) == (False, "ils_unavailable")
    [(_, state, why)] = live_rows(hub)
    assert state == "pending" and "outcome unknown" in (why or "")  # recorded before the call
    ils.start()
    drainer, deadline = drainer_at(hub, GRACE_S + 1), time.monotonic() + 5
    while live_rows(hub)[0][1] == "pending" and time.monotonic() < deadline:
        time.sleep(drainer.step())  # the pool's backoff after the outage, then the 09
    assert [(i, s) for i, s, _ in live_rows(hub)] == [(BOOK, "not_lent")]  # its 09: never lent
    assert ils.sim.circulation.item(BOOK).status == "available"


def test_a_checkout_whose_loan_reached_the_ledger_another_way_is_left_lent(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert checkout(hub, DONGCHENG_CARD, BOOK, token).allowed
    # The loan txn comes from another kiosk (its own session): it does not claim k1's
    # live checkout, and the system is told again (it already has the book out to him).
    other = hub.ask(messages.PinCheck(op="pin_check", card=DONGCHENG_CARD, pin=DONGCHENG_PIN), "k2")
    ack = hub.commit("k2", kind="loan", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
                     session_token=other.session_token)  # fmt: skip
    assert ack.result == "committed" and ack.exception is None
    hub.drain()
    drainer_at(hub, GRACE_S + 1).step()
    assert ils.journal.count("09") == 0  # the reader has it in the ledger: not checked in
    assert ils.sim.circulation.item(BOOK).status == "charged"
    states = {(s, (why or "").split(" (")[0]) for _, s, why in live_rows(hub)}
    assert ("delivered", "the ledger has this loan") in states
