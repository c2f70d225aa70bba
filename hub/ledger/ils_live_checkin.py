"""Live checkins: the 09 `return_route` (hub/ils/ils_operations.py) sends while a kiosk
waits for a returned book's route, recorded in the ledger before it leaves, as a live
checkout is (hub/ledger/ils_live.py), and settled by the return txn that follows. So an
answer lost on the wire (or a worker that dies before writing it down) leaves a call the
drainer resends as a retry, never a fresh first send that the system, having checked the
book in already, would refuse "item not checked out" (a spurious conflict for staff).

A live checkin is a row of `ils_queue` (hub/ledger/ils_queue.py) with `op = 'checkin'`
and no `txn_id` until its return txn claims it, in one of these states:

    pending    recorded; the 09 is on its way, or its outcome is not known (no answer,
               the connection closed unanswered, the hub stopped). Claimed, it is
               `queued` with its send counted, so the drainer's send is a retry and an
               "item not checked out" to it means the first 09 arrived
    live       the system checked it in: ok=1, with the route its answer gave (`route`,
               `route_library`), or "not checked out" to our client's own resend of it
               (`Sip2Client.sent_twice`, the echo of the first send; no route: the answer
               that had it was lost). Claimed: delivered
    refused    the system said no to a first send; claimed, it is judged as the drainer
               judges a queued 09 (`ils_queue.checkin_refusal_agrees`): delivered with the
               reason when the system agrees with the ledger, else a conflict with an
               exception row for staff (`ils_checkin_refused`), named by the return txn

Only `live` with a route routes the book (`live_route`): after a refusal or a lost
answer the kiosk was told the hub's own rule, and its return txn is judged against that.

What a caller may rely on: every function takes a `Database`; `record_pending`,
`note_uncertain` and `drop_unsent` commit on their own, `mark_checked_in` and `mark_refused` run inside the
caller's transaction (with the book's mirror), `claim` and `live_route` inside the
return txn's commit.
"""

from __future__ import annotations

from datetime import datetime

from hub.ledger import ils_queue, staff_exceptions
from hub.ledger.ledger_sql import Database, Row, parse_time_text, time_text
from hub.rules.rules import Route

OP = "checkin"
REFUSED = "ils_checkin_refused"  # the exception reason, as on the queued path
ECHO_NOTE = "answered not checked out to our client's resend: taken as arrived"
_OPEN = "state IN ('pending', 'live', 'refused') AND txn_id IS NULL"


def record_pending(db: Database, system: str, item: str, library_id: str, at: datetime) -> int:
    """Record a checkin about to be sent (committed before the 09 leaves, its send
    counted); its id."""
    with db.write():
        db.execute(
            "INSERT INTO ils_queue (system, op, item, library_id, at, state, attempts, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'pending', 1, ?)",
            (system, OP, item, library_id, time_text(at), time_text(at)),
        )
        return int(
            db.scalar(
                "SELECT max(id) FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND state = 'pending'",
                (system, OP, item),
            )
        )


def mark_checked_in(db: Database, call_id: int, at: datetime, route: Route | None) -> None:
    """The system checked it in: live, with the route its answer gave, or none (`route`
    None) when only our client's resend was answered, "not checked out" (inside the
    caller's transaction)."""
    db.execute(
        "UPDATE ils_queue SET state = 'live', done_at = ?, route = ?, route_library = ?, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (
            time_text(at), route.route if route else None, route.library_id if route else None,
            None if route else ECHO_NOTE, call_id,
        ),
    )  # fmt: skip


def mark_refused(db: Database, call_id: int, words: str | None) -> None:
    """The system refused a first send: kept, with its words, for its return txn to judge
    (`claim`; inside the caller's transaction)."""
    db.execute(
        "UPDATE ils_queue SET state = 'refused', last_error = ? WHERE id = ? AND state = 'pending'",
        ((words or "no reason given")[:300], call_id),
    )


def note_uncertain(db: Database, call_id: int, why: str) -> None:
    """The 09 was sent but its outcome is not known: it stays pending, for its return txn
    to have resent as a retry."""
    with db.write():
        db.execute("UPDATE ils_queue SET last_error = ? WHERE id = ?", (why[:300], call_id))


def drop_unsent(db: Database, call_id: int) -> None:
    """The 09 never left (connecting to the system failed): no call was made, so no row
    stands for one; the return txn queues its own, a first send."""
    with db.write():
        db.execute("DELETE FROM ils_queue WHERE id = ? AND state = 'pending'", (call_id,))


def _newest_open(db: Database, item: str, now: datetime, system: str | None = None) -> Row | None:
    """The newest unclaimed live checkin of this book (of `system`) within the claim window."""
    of_system, system_args = ("system = ? AND ", (system,)) if system is not None else ("", ())
    return db.query_one(
        "SELECT id, system, item, library_id, at, state, attempts, last_error, route, route_library"
        f" FROM ils_queue WHERE {of_system}op = ? AND item = ? AND {_OPEN} AND created_at >= ?"
        " ORDER BY id DESC LIMIT 1",
        (*system_args, OP, item, time_text(now - ils_queue.LIVE_CLAIM_WINDOW)),
    )


def live_route(db: Database, item: str, now: datetime) -> Route | None:
    """Where a member's system sent this book at its newest unclaimed live checkin (within
    the claim window): what the hub told the kiosk, so what its return txn is judged
    against (hub/ledger/txn_effects.py). None when there is none, or when that 09 gave no
    route (refused, outcome unknown, answered only to a resend): the hub's rule stood."""
    row = _newest_open(db, item, now)
    if row is None or row[5] != "live" or row[8] is None or row[9] is None:
        return None
    return Route(row[8], row[9])


def claim(db: Database, system: str, item: str, txn_id: str, kiosk_id: str, now: datetime) -> str | None:
    """Settle the newest unclaimed live checkin of this book under its return txn `txn_id`
    (inside that txn's commit); its new state (`delivered`, `queued`: resent as a retry,
    `conflict`), or None when there is none and the txn must queue its own 09."""
    row = _newest_open(db, item, now, system)
    if row is None:
        return None
    call_id, state = int(row[0]), row[5]
    if state == "live":
        db.execute(
            "UPDATE ils_queue SET state = 'delivered', txn_id = ?, kiosk_id = ? WHERE id = ?", (txn_id, kiosk_id, call_id)
        )
        return "delivered"
    if state == "pending":
        db.execute(
            "UPDATE ils_queue SET state = 'queued', txn_id = ?, kiosk_id = ? WHERE id = ?", (txn_id, kiosk_id, call_id)
        )
        return "queued"
    at = parse_time_text(row[4])
    assert at is not None
    call = ils_queue.QueuedCall(call_id, row[1], OP, row[2], None, None, txn_id, kiosk_id, row[3], at, int(row[6]))
    agrees = ils_queue.checkin_refusal_agrees(db, call)
    if agrees is not None:
        db.execute(
            "UPDATE ils_queue SET state = 'delivered', txn_id = ?, kiosk_id = ?, done_at = ?, last_error = ?"
            " WHERE id = ?",
            (txn_id, kiosk_id, time_text(now), agrees[:300], call_id),
        )
        return "delivered"
    summary = f"SIP2 system {system}: checkin of item {item} (txn {txn_id}): not checked in: {row[7]}"
    db.execute(
        "UPDATE ils_queue SET state = 'conflict', txn_id = ?, kiosk_id = ?, done_at = ?, last_error = ? WHERE id = ?",
        (txn_id, kiosk_id, time_text(now), f"{REFUSED}: {summary}"[:300], call_id),
    )
    staff_exceptions.record(db, txn_id, kiosk_id, REFUSED, summary[:500], now)
    return "conflict"
