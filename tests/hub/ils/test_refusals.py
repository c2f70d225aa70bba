"""Every way a member's system says no, and answers lost on the wire (issue 21, item 3).

Through the real path: the hub's answers, intake and drainer, our SIP2 client over TLS,
the ILS simulator (pysip2's server) on a real socket. What each test checks is what the
ledger records (its exceptions, the call's state in `ils_queue`, its loans), what the
reader is told where a reader waits, what the system itself holds (its own records, its
journal), and that nothing else moved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import messages
from contract.privacy import card_hash
from tests.hub import ledger_doors as doors
from tests.hub.ils.conftest import BOOK, DONGCHENG_CARD, DONGCHENG_PIN, NLC_CARD, OTHER_BOOK, Hub
from tests.hub.ils.test_ils_path import borrow, give_back, sign_in
from tests.ils_peer import Ils

# ils_sim/data/dongcheng.toml: out there to reader 0101000060026 (with a hold on it), and
# a reader the system keeps blocked (逾期未还).
OUT_TO_SOMEONE_ELSE = "30101000000216"
BLOCKED_CARD = messages.CardRef(scheme="bj-joint", number="0101000060042")
HOLDER = "0101000060018"  # another Dongcheng reader, who places a hold at the system's desk


@pytest.fixture(params=["gb18030", "utf-8"])
def refusing_ils(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ils]:
    """The system answering a repeated checkout with a refusal, as some systems do, so
    the hub must look at the patron's record (63) to know its earlier 11 arrived."""
    sim = Ils(tmp_path, request.param, repeat_checkout="refuse")
    sim.start()
    yield sim
    sim.stop()


def ledger_state(hub: Hub) -> dict[str, Any]:
    """What the ledger holds that a refusal must not move: loans, calls, exceptions."""
    db = hub.ledger.db
    return {
        "loans": sorted(tuple(r) for r in db.query("SELECT item, card_hash, due, renewals FROM loans WHERE closed_at IS NULL")),
        "calls": doors.ils_calls(hub.ledger),
        "exceptions": [(e.txn_id, e.reason) for e in hub.ledger.exceptions()],
    }


def system_state(ils: Ils) -> dict[str, tuple[str, str | None, str | None, int, int]]:
    """Every item at the system: status, patron, due date, renewals, holds."""
    assert ils.sim is not None
    items = ils.sim.circulation.library.items
    return {b: (i.status, i.patron, str(i.due), i.renewals, len(i.holds)) for b, i in items.items()}


def offline(hub: Hub, kind: str, card: messages.CardRef | None, item: str, kiosk: str = "k1") -> messages.Ack:
    """A txn the kiosk made offline and sends now (committed at once; the ILS call queued)."""
    fields: dict[str, Any] = {"kind": kind, "item": item, "library_id": "dongcheng", "mode": "offline"}
    if card is not None:
        fields["card"] = card.model_dump()
    return hub.commit(kiosk, **fields)


def settle(hub: Hub, within_s: float = 5.0) -> None:
    """Drain until the system is owed nothing; the pool may be in its backoff (0.05 s to
    0.2 s here) after an outage. Bounded: a call left owed fails the test."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        hub.drain()
        if not hub.ledger.ils_links(("east",))[0].queued:
            return
        time.sleep(0.05)
    raise AssertionError(f"still queued: {doors.ils_calls(hub.ledger, 'east')}")


def drain_to_conflict(hub: Hub, ils: Ils, ack: messages.Ack, reason: str) -> str:
    """Drain the owed call of `ack`'s txn and check it became a conflict for staff with
    `reason`, and that nothing else moved: not the ledger's loans, not its other calls
    and exceptions, not the system's records. The staff summary, returned."""
    assert ack.result == "committed"
    before, at_system = ledger_state(hub), system_state(ils)
    assert [c[4] for c in before["calls"] if c[3] == ack.txn_id] == ["queued"]
    settle(hub)
    after = ledger_state(hub)
    assert after["loans"] == before["loans"]  # the ledger keeps what happened at the kiosk
    assert after["exceptions"] == before["exceptions"] + [(ack.txn_id, reason)]
    settled = [c if c[3] != ack.txn_id else (*c[:4], "conflict") for c in before["calls"]]
    assert after["calls"] == settled
    assert system_state(ils) == at_system  # refused: nothing changed there
    assert hub.ledger.ils_links(("east",))[0].conflicts == 1
    [shown] = [e for e in hub.ledger.staff_exceptions() if e.reason == reason]
    return shown.summary


# ---------------------------------------------------------------------------- conflicts


def test_an_offline_loan_of_a_book_out_to_someone_else_there_is_a_checkout_refused_for_staff(ils, make_hub):
    hub = make_hub(ils)
    sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    ack = offline(hub, "loan", DONGCHENG_CARD, OUT_TO_SOMEONE_ELSE)
    summary = drain_to_conflict(hub, ils, ack, "ils_checkout_refused")
    assert "item checked out to another patron" in summary  # the system's own words (AF)


def test_an_offline_loan_to_a_reader_the_system_blocks_is_patron_blocked_for_staff(ils, make_hub):
    hub = make_hub(ils)
    lookup = hub.ask(messages.ReaderLookup(op="reader_lookup", card=BLOCKED_CARD, library_id="dongcheng"))
    assert lookup.state == "blocked"  # mirrored from the system's 63
    ack = offline(hub, "loan", BLOCKED_CARD, OUT_TO_SOMEONE_ELSE)
    summary = drain_to_conflict(hub, ils, ack, "ils_patron_blocked")
    assert "patron blocked" in summary
    asked = [r.command for r in ils.journal.requests(patron=BLOCKED_CARD.number)]
    assert asked[-2:] == ["11", "63"]  # refused, then the hub read the patron's record


def test_an_offline_renewal_the_system_refuses_is_renew_refused_for_staff(ils, make_hub):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    assert ils.sim is not None
    ils.sim.circulation.place_hold(BOOK, HOLDER, "dongcheng")  # at the system's own desk
    ack = offline(hub, "renew", DONGCHENG_CARD, BOOK)
    summary = drain_to_conflict(hub, ils, ack, "ils_renew_refused")
    assert "item has a hold for another patron" in summary
    assert [r.ok for r in ils.journal.requests("29", item=BOOK)] == ["0"]


@pytest.fixture
def gb18030_ils(tmp_path: Path) -> Iterator[Ils]:
    sim = Ils(tmp_path, "gb18030")
    sim.start()
    yield sim
    sim.stop()


def test_a_request_the_system_drops_as_invalid_three_times_is_invalid_request_for_staff(gb18030_ils, make_hub):
    """pysip2 splits a request on the byte "|" before decoding it, and GB18030 writes 億 as
    0x83 0x7C: a guest patron id holding it is a request the system cannot read, and it
    drops the connection without a word, every time (docs/sip2.md, "Peers")."""
    ils = gb18030_ils
    hub = make_hub(ils, nlc="GUEST-億")
    ack = offline(hub, "loan", NLC_CARD, OTHER_BOOK)
    summary = drain_to_conflict(hub, ils, ack, "ils_invalid_request")
    assert "closed the connection without answering 11" in summary
    attempts = hub.ledger.db.query_one("SELECT attempts FROM ils_queue WHERE txn_id = ?", (ack.txn_id,))
    assert attempts is not None and attempts[0] == hub.drainer.max_invalid
    assert ils.journal.count("11") == 0  # never handled: dropped before any handler ran


# ---------------------------------------------------------------------------- renew refused live


def test_a_renewal_the_system_refuses_is_refused_to_the_reader_in_its_words_and_the_ledger_is_unchanged(
    ils, make_hub
):
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    assert ils.sim is not None
    ils.sim.circulation.place_hold(BOOK, HOLDER, "dongcheng")
    before, at_system = ledger_state(hub), system_state(ils)
    answer = hub.ask(
        messages.RenewAuth(op="renew_auth", card=DONGCHENG_CARD, item=BOOK, library_id="dongcheng", session_token=token)
    )
    assert answer.allowed is False and answer.reason_code == "ils_refused"
    assert answer.message is not None
    assert "item has a hold for another patron" in answer.message.en
    assert "item has a hold for another patron" in answer.message.zh
    assert answer.due is None
    assert [(r.command, r.ok) for r in ils.journal.requests("29", item=BOOK)] == [("29", "0")]
    assert ledger_state(hub) == before  # due date, renewals, calls, exceptions: as they were
    assert system_state(ils) == at_system


def test_a_checkout_the_system_refuses_names_the_book_by_the_title_in_its_refusal(ils, make_hub):
    """The ledger has never seen this book; the system's refusal (its 12) names it, and the
    reader is told which book was refused, not only why (issue 19 item 1)."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert hub.ledger.item(OUT_TO_SOMEONE_ELSE) is None
    answer = hub.ask(
        messages.CheckoutAuth(
            op="checkout_auth", card=DONGCHENG_CARD, item=OUT_TO_SOMEONE_ELSE, library_id="dongcheng",
            session_token=token,
        )
    )
    assert (answer.allowed, answer.reason_code) == (False, "ils_refused")
    assert answer.title == "聊斋志异（一） · 典藏版 / 蒲松龄 著"  # ils_sim/data/dongcheng.toml


# ---------------------------------------------------------------------------- answers lost on the wire


@pytest.mark.parametrize("losses", [1, 2], ids=["resent-by-the-client", "retried-by-the-drainer"])
def test_a_checkout_whose_answer_is_lost_is_found_on_the_patrons_record_and_made_once(
    refusing_ils, make_hub, losses: int
):
    """An offline loan reaches the hub; the drainer's 11 lends the book there, and the
    connection drops before the answer is back. The 11 goes again, on a new connection:
    sent again by our client at once (the pooled connection had answered before: maybe
    the system restarted), or, when that answer is lost too, by the drainer's next try.
    The system refuses it "already checked out to this patron"; the patron's record (63)
    shows the book: delivered, lent once."""
    ils = refusing_ils
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)  # the ledger knows the book...
    give_back(hub, BOOK, "dongcheng")  # ...which is back on the shelf at both ends
    ack = offline(hub, "loan", DONGCHENG_CARD, BOOK, kiosk="k2")  # a kiosk that was cut off
    assert (ack.result, ack.exception) == ("committed", None)
    assert ils.sim is not None
    ils.sim.lose_answers("11", times=losses)  # the system lends it, then the connection drops
    settle(hub)
    assert ils.sim.answer_loss.lost["11"] == losses
    checkouts = ils.journal.requests("11", item=BOOK)[1:]  # after the first, live one
    assert [(r.ok, r.message) for r in checkouts] == [
        ("1", "checked out"),  # its answer lost
        *[("0", "item already checked out to this patron")] * losses,  # each send after it
    ]
    attempts = hub.ledger.db.query_one("SELECT attempts FROM ils_queue WHERE txn_id = ?", (ack.txn_id,))
    assert attempts is not None and attempts[0] == losses  # the drainer's own sends
    assert ils.journal.requests(patron=DONGCHENG_CARD.number)[-1].command == "63"  # the record read
    assert ils.sim.circulation.charged_items(DONGCHENG_CARD.number) == [BOOK]  # one checkout there
    [call] = hub.ledger.db.query("SELECT state, last_error FROM ils_queue WHERE txn_id = ?", (ack.txn_id,))
    assert tuple(call) == ("delivered", "already out to this patron: taken as arrived")  # that branch ran
    [loan] = hub.ledger.db.query("SELECT card_hash FROM loans WHERE item = ? AND closed_at IS NULL", (BOOK,))
    assert loan[0] == card_hash("bj-joint", DONGCHENG_CARD.number)  # one loan in the ledger
    assert hub.ledger.exceptions() == []


def test_a_checkin_whose_answer_is_lost_after_the_system_restarted_counts_as_delivered(ils, make_hub):
    """The return is queued while the system is down; when it is back, the first 09 (on a
    connection just made) checks the book in but its answer never arrives; the drainer's
    next try is told "item not checked out": its earlier send arrived."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    ils.stop()
    give_back(hub, BOOK, "dongcheng")
    ils.start()
    assert ils.sim is not None
    ils.sim.lose_answers("09")
    settle(hub)
    assert ils.sim.answer_loss.lost["09"] == 1
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    assert ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]
    [(state, attempts, note)] = hub.ledger.db.query(
        "SELECT state, attempts, last_error FROM ils_queue WHERE op = 'checkin' AND item = ?", (BOOK,)
    )
    assert state == "delivered" and attempts == 2  # the two 09s that left (tries while down count none)
    assert note == "answered not checked out after an earlier send: taken as arrived"
    assert not [e for e in hub.ledger.exceptions() if e.reason.startswith("ils_")]


def test_a_checkin_whose_answer_is_lost_on_a_connection_in_use_counts_as_delivered(ils, make_hub):
    """The same loss on a pooled connection: our client reconnects and sends the 09 once
    more by itself; its "item not checked out" must not be taken for a refusal."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    ack = offline(hub, "return", None, BOOK)
    assert ack.result == "committed"
    assert ils.sim is not None
    ils.sim.lose_answers("09")
    settle(hub)
    assert ils.sim.answer_loss.lost["09"] == 1
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    [(state, attempts)] = hub.ledger.db.query("SELECT state, attempts FROM ils_queue WHERE txn_id = ?", (ack.txn_id,))
    assert (state, attempts) == ("delivered", 1)  # one send of the drainer's, twice on the wire
    assert not [e for e in hub.ledger.exceptions() if e.reason.startswith("ils_")]


def test_a_live_checkout_whose_answer_is_lost_lends_the_book_once_and_the_reader_gets_it(refusing_ils, make_hub):
    """While the reader waits: the 11 lends the book and its answer is lost; our client
    sends it again at once and the system refuses it "already checked out to this
    patron". That refusal is the echo of our own first 11: the patron's record (63) shows
    the book, so the reader is told yes, and the loan txn claims the live checkout."""
    ils = refusing_ils
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert ils.sim is not None
    ils.sim.lose_answers("11")
    answer = hub.ask(
        messages.CheckoutAuth(
            op="checkout_auth", card=DONGCHENG_CARD, item=BOOK, library_id="dongcheng", session_token=token
        )
    )
    assert answer.allowed, answer
    assert [r.ok for r in ils.journal.requests("11", item=BOOK)] == ["1", "0"]
    ack = hub.commit(
        kind="loan", card=DONGCHENG_CARD.model_dump(), item=BOOK, library_id="dongcheng",
        due=answer.due, session_token=token,
    )  # fmt: skip
    assert (ack.result, ack.exception) == ("committed", None)
    assert doors.ils_calls(hub.ledger, "east") == [("east", "checkout", BOOK, ack.txn_id, "delivered")]
    assert ils.sim.circulation.charged_items(DONGCHENG_CARD.number) == [BOOK]
    loan = hub.ledger.active_loan_for_item(BOOK)
    assert loan is not None and loan.card_hash == card_hash("bj-joint", DONGCHENG_CARD.number)
    assert hub.ledger.exceptions() == []
