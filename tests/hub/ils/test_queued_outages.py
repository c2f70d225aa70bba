"""An outage is no send: the drainer's tries while a member's system cannot be reached
(its port refuses connections) count no `attempts`, so they neither make a later "item
not checked out" look like the echo of an earlier send, nor spend the `max_invalid`
sends after which a call the system keeps refusing as invalid is given up. The same for
the 09 that checks an unclaimed live checkout back in, whose earlier sends (and our
client's own resend) make its "not checked out" the echo of one that arrived.

Through the real path: the hub's intake and drainer, our SIP2 client over TLS, the ILS
simulator (pysip2's server) on a real socket, stopped for the outage and started again
on the same port.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.ils.ils_drainer import IlsDrainer
from tests.hub import ledger_doors as doors
from tests.hub.ils.conftest import (
    BOOK,
    DONGCHENG_CARD,
    DONGCHENG_PIN,
    NLC_CARD,
    OTHER_BOOK,
    Hub,
    now,
)
from tests.hub.ils.test_checkin_refusals import ready, told
from tests.hub.ils.test_ils_path import borrow, sign_in
from tests.hub.ils.test_live_checkouts import GRACE_S, checkout, drainer_at, live_rows
from tests.hub.ils.test_refusals import drain_to_conflict, offline, settle
from tests.ils_peer import Ils


def attempts(hub: Hub, txn_id: str) -> int:
    row = hub.ledger.db.query_one("SELECT attempts FROM ils_queue WHERE txn_id = ?", (txn_id,))
    assert row is not None
    return int(row[0])


def tries_while_down(hub: Hub, tries: int, drainer: IlsDrainer | None = None) -> list[str]:
    """`tries` drainer steps against the stopped system, each a real connect that is
    refused: the pool's backoff (0.05 s to 0.2 s here) is waited out before each, so no
    try is only the pool's fast "down, next try in". The link's last error of each."""
    errors = []
    for _ in range(tries):
        deadline = time.monotonic() + 5
        while hub.pool.state().retry_in_s is not None:
            assert time.monotonic() < deadline, "the pool's backoff never ended"
            time.sleep(0.01)
        assert (drainer or hub.drainer).step() > 0  # down: the drainer backs off
        [link] = hub.ledger.ils_links(("east",))
        assert link.state == "down" and link.last_error is not None
        errors.append(link.last_error)
    return errors


def test_a_return_refused_not_checked_out_after_an_outage_is_a_checkin_refused_for_staff(ils: Ils, make_hub):
    """The system was told of the loan, then checked the book in at its own desk. The
    kiosk's return is queued while the system is down; the drainer's tries fail at
    connect. Its first 09 that reaches the system is refused "item not checked out": a
    first send's refusal, a disagreement for staff, not the echo of an earlier send."""
    hub = make_hub(ils)
    ready(hub)
    start = now() - timedelta(minutes=5)
    loan = told(hub, "k2", "loan", 0, start)
    settle(hub)
    assert ils.sim is not None
    assert ils.sim.circulation.checkin(BOOK, location="dongcheng").ok  # at the system's own desk
    ils.stop()
    back = told(hub, "k4", "return", 1, start)
    errors = tries_while_down(hub, hub.drainer.max_invalid + 2)
    assert all("cannot connect" in e for e in errors), errors
    assert attempts(hub, back.txn_id) == 0  # nothing reached the system
    ils.start()
    summary = drain_to_conflict(hub, ils, back, "ils_checkin_refused")
    assert "item not checked out" in summary
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["0"]  # one 09 reached it
    assert attempts(hub, back.txn_id) == 1
    assert {c[3]: c[4] for c in doors.ils_calls(hub.ledger, "east")}[loan.txn_id] == "delivered"


def test_an_outage_longer_than_max_invalid_tries_does_not_give_a_call_up(ils: Ils, make_hub):
    """A return queued while the system is down, for longer than `max_invalid` tries.
    When it is back, the first 09 checks the book in and the connection drops before the
    answer (a silent close on a fresh connection: our client reads it as the system
    refusing the request as invalid). That is one invalid send, not the last of
    `max_invalid`: the drainer sends again, is told "item not checked out", and its first
    send arrived: delivered, nothing for staff."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    borrow(hub, DONGCHENG_CARD, BOOK, "dongcheng", token)
    ils.stop()
    ack = offline(hub, "return", None, BOOK)
    assert ack.result == "committed"
    tries_while_down(hub, hub.drainer.max_invalid + 2)
    assert attempts(hub, ack.txn_id) == 0
    ils.start()
    assert ils.sim is not None
    ils.sim.lose_answers("09")
    settle(hub)
    assert ils.sim.answer_loss.lost["09"] == 1
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    [(state, note)] = hub.ledger.db.query("SELECT state, last_error FROM ils_queue WHERE txn_id = ?", (ack.txn_id,))
    assert (state, note) == ("delivered", "answered not checked out after an earlier send: taken as arrived")
    assert attempts(hub, ack.txn_id) == 2  # the two 09s that reached the system
    assert hub.ledger.exceptions() == []
    assert ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]


@pytest.fixture
def gb18030_ils(tmp_path: Path) -> Any:
    sim = Ils(tmp_path, "gb18030")
    sim.start()
    yield sim
    sim.stop()


def test_a_request_the_system_drops_as_invalid_is_given_up_after_max_invalid_sends_not_outage_tries(
    gb18030_ils: Ils, make_hub
):
    """A guest patron id the system cannot read (億 in GB18030 holds the byte "|",
    tests/hub/ils/test_refusals.py): every send is dropped unanswered. After an outage
    of more than `max_invalid` tries it is still sent `max_invalid` times before it is a
    conflict for staff."""
    ils = gb18030_ils
    hub = make_hub(ils, nlc="GUEST-億")
    ils.stop()
    ack = offline(hub, "loan", NLC_CARD, OTHER_BOOK)
    assert ack.result == "committed"
    tries_while_down(hub, hub.drainer.max_invalid + 2)
    assert attempts(hub, ack.txn_id) == 0
    ils.start()
    summary = drain_to_conflict(hub, ils, ack, "ils_invalid_request")
    assert "closed the connection without answering 11" in summary
    assert attempts(hub, ack.txn_id) == hub.drainer.max_invalid


# ---------------------------------------------------------------------------- live checkouts checked back in


def checked_back_in(hub: Hub, drainer: IlsDrainer, within_s: float = 5.0) -> tuple[str, str | None]:
    """Step `drainer` until the live checkout is settled (bounded); its (state, why)."""
    deadline = time.monotonic() + within_s
    while (row := live_rows(hub)[0])[1] in ("pending", "live"):
        assert time.monotonic() < deadline, f"still open: {row}"
        time.sleep(drainer.step())  # the pool's backoff after a failure, then the 09
    return row[1], row[2]


def test_a_check_back_in_whose_answer_is_lost_on_a_connection_in_use_is_checked_in_not_a_conflict(
    ils: Ils, make_hub
):
    """Nobody claimed the live checkout: its 09 checks the book in at the system and the
    answer is lost with the (pooled) connection; our client sends it again at once and
    is told "item not checked out": the echo of its own first 09, not a refusal."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert checkout(hub, DONGCHENG_CARD, BOOK, token).allowed
    assert ils.sim is not None
    ils.sim.lose_answers("09")
    state, why = checked_back_in(hub, drainer_at(hub, GRACE_S + 1))
    assert ils.sim.answer_loss.lost["09"] == 1
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    assert state == "checked_in" and "taken as checked in" in (why or ""), why
    assert ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]
    assert hub.ledger.exceptions() == []


def test_an_outage_longer_than_max_invalid_tries_does_not_give_a_check_back_in_up(ils: Ils, make_hub):
    """The system is down when the unclaimed checkout's grace ends, for longer than
    `max_invalid` tries. Back up, the first 09 checks the book in and the connection
    drops unanswered (fresh: read as the request refused as invalid), one invalid send;
    the next is told "item not checked out", the echo of the first: checked in."""
    hub = make_hub(ils)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    assert checkout(hub, DONGCHENG_CARD, BOOK, token).allowed
    drainer = drainer_at(hub, GRACE_S + 1)
    ils.stop()
    tries_while_down(hub, drainer.max_invalid + 2, drainer)
    [(sends,)] = hub.ledger.db.query("SELECT attempts FROM ils_queue WHERE op = 'checkout'")
    assert sends == 1  # the 11 only: no 09 reached the system
    ils.start()
    assert ils.sim is not None
    ils.sim.lose_answers("09")
    state, why = checked_back_in(hub, drainer)
    assert [r.ok for r in ils.journal.requests("09", item=BOOK)] == ["1", "0"]
    assert state == "checked_in" and "taken as checked in" in (why or ""), why
    [(sends,)] = hub.ledger.db.query("SELECT attempts FROM ils_queue WHERE op = 'checkout'")
    assert sends == 3  # the 11 and the two 09s
    assert ils.sim.circulation.item(BOOK).status == "available"  # type: ignore[union-attr]
    assert hub.ledger.exceptions() == []
