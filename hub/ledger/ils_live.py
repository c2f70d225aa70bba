"""Live checkouts: a book a member's system lends while a kiosk waits (`checkout_auth`),
recorded in the ledger before the 11 is sent and reconciled with the loan txn that must
follow, so the system never lends a book the alliance's ledger does not hear of.

A live checkout is a row of `ils_queue` (hub/ledger/ils_queue.py) with `op = 'checkout'`, in
one of these states:

    pending     recorded; the 11 is on its way, or its outcome is not known (no answer,
                an answer that did not match the request, the hub stopped)
    live        the system lent it (ok=1); waits for the kiosk's loan txn
    delivered   the loan txn claimed it (`claim`)
    refused     the system said no (ok=0): nothing to undo
    checked_in  no loan txn within the grace (`[sip2] live_checkout_grace_s`): the
                drainer checked it back in (09); `last_error` says why
    not_lent    a pending one whose 09 found the book not out: the 11 never took effect
    superseded  a later checkout of the book, or the ledger's own loan of it, stands
    conflict    its first 09 was refused or kept failing: an exception row for staff, and a
                conflict in `hub status`

`attempts` counts the 11 (recorded with it) and each 09 that began to leave, counted
just before it does as a queued call's sends are (`ils_queue.begin_attempt`): a try that
could not reach the system counts none; one the worker died before sending counts,
"maybe sent".

`kiosk_id` is the kiosk that asked; only a loan txn of that kiosk, card and book claims
it. `checkin_started_at` is set when the drainer begins the 09, so a txn arriving
during the 09 no longer claims the row (it queues a new 11 behind the 09 instead).

What a caller may rely on: every function takes a `Database`; `claim` runs inside the
txn's commit transaction; the others commit on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.ledger import queries, staff_exceptions
from hub.ledger.ledger_sql import Database, parse_time_text, time_text

OP = "checkout"
UNCLAIMED = "ils_live_checkout_unclaimed"  # the exception reason when its 09 fails


@dataclass(frozen=True)
class LiveCheckout:
    """One live checkout as the drainer reconciles it."""

    id: int
    system: str
    item: str
    card_hash: str | None
    kiosk_id: str | None
    library_id: str
    at: datetime
    state: str  # pending or live
    attempts: int  # the 11 (recorded with it) and every 09 that began to leave

    @property
    def checkin_sends(self) -> int:
        """The 09s sent to check it back in: its sends after the 11."""
        return max(0, self.attempts - 1)


@dataclass(frozen=True)
class Claim:
    """What a loan txn found: the system's due date, and whether the system surely lent
    it (`lent`; a pending one may not have reached it, so the txn still queues an 11)."""

    id: int
    due: datetime | None
    lent: bool


def record_pending(
    db: Database, system: str, item: str, library_id: str, at: datetime,
    *, patron_id: str, card_hash: str, kiosk_id: str | None,
) -> int:  # fmt: skip
    """Record a checkout about to be sent (committed before the 11 leaves); its id."""
    with db.write():
        db.execute(
            "INSERT INTO ils_queue (system, op, item, patron_id, card_hash, kiosk_id, library_id, at, state,"
            " attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?)",
            (system, OP, item, patron_id, card_hash, kiosk_id, library_id, time_text(at), time_text(at)),
        )
        return int(
            db.scalar(
                "SELECT max(id) FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND state = 'pending'",
                (system, OP, item),
            )
        )


def mark_lent(db: Database, call_id: int, due: datetime | None) -> None:
    """The system lent it: live, waiting for its txn (inside the caller's transaction)."""
    db.execute(
        "UPDATE ils_queue SET state = 'live', due = ? WHERE id = ? AND state = 'pending'",
        (time_text(due) if due else None, call_id),
    )


def mark_refused(db: Database, call_id: int, now: datetime, words: str | None) -> None:
    with db.write():
        db.execute(
            "UPDATE ils_queue SET state = 'refused', done_at = ?, last_error = ? WHERE id = ? AND state = 'pending'",
            (time_text(now), (words or "refused")[:300], call_id),
        )


def note_uncertain(db: Database, call_id: int, why: str) -> None:
    """The 11 was sent but its outcome is not known: it stays pending, to be checked
    back in after the grace unless a txn claims it."""
    with db.write():
        db.execute("UPDATE ils_queue SET last_error = ? WHERE id = ?", (why[:300], call_id))


def claim(
    db: Database, system: str, item: str, card_hash: str | None, kiosk_id: str, txn_id: str
) -> Claim | None:
    """The newest open live checkout of this book for this card by this kiosk, now
    delivered under `txn_id`; None when there is none (or its 09 has begun)."""
    row = db.query_one(
        "SELECT id, due, state FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND card_hash = ?"
        " AND state IN ('pending', 'live') AND checkin_started_at IS NULL"
        " AND (kiosk_id IS NULL OR kiosk_id = ?) ORDER BY id DESC LIMIT 1",
        (system, OP, item, card_hash, kiosk_id),
    )
    if row is None:
        return None
    db.execute(
        "UPDATE ils_queue SET state = 'delivered', txn_id = ?, kiosk_id = ? WHERE id = ?", (txn_id, kiosk_id, row[0])
    )
    return Claim(int(row[0]), parse_time_text(row[1]), lent=row[2] == "live")


def next_expired(db: Database, system: str, cutoff: datetime) -> LiveCheckout | None:
    """The oldest open live checkout of `system` made before `cutoff` (no txn claimed it)."""
    row = db.query_one(
        "SELECT id, system, item, card_hash, kiosk_id, library_id, at, state, attempts FROM ils_queue"
        " WHERE system = ? AND op = ? AND state IN ('pending', 'live') AND created_at < ? ORDER BY id LIMIT 1",
        (system, OP, time_text(cutoff)),
    )
    if row is None:
        return None
    at = parse_time_text(row[6])
    assert at is not None
    return LiveCheckout(int(row[0]), row[1], row[2], row[3], row[4], row[5], at, row[7], int(row[8]))


def oldest_open(db: Database, system: str) -> datetime | None:
    """When the oldest open live checkout of `system` was made (the drainer's next wake)."""
    return parse_time_text(
        db.scalar(
            "SELECT min(created_at) FROM ils_queue WHERE system = ? AND op = ? AND state IN ('pending', 'live')",
            (system, OP),
        )
    )


def standing_instead(db: Database, call: LiveCheckout) -> tuple[str, str] | None:
    """Why `call` must not be checked back in, as (state, note), or None: the ledger has
    an open loan of the book (the txn came by another way), or a later checkout of it
    took its place."""
    loan = queries.open_loan_txn(db, call.item)
    if loan is not None:
        if loan[1] == call.card_hash:
            return "delivered", f"the ledger has this loan (txn {loan[0]}): not checked in"
        return "conflict", f"the ledger has the book lent to another reader (txn {loan[0]}): not checked in"
    later = db.scalar(
        "SELECT id FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND id > ?"
        " AND state IN ('pending', 'live', 'delivered') LIMIT 1",
        (call.system, OP, call.item, call.id),
    )
    if later is not None:
        return "superseded", f"a later checkout of the book (call {later}) stands: not checked in"
    return None


def begin_checkin(db: Database, call: LiveCheckout, now: datetime) -> bool:
    """Mark the 09 as begun (a txn no longer claims the row); False when a txn claimed it
    first. Its send is counted only when it leaves (`ils_queue.begin_attempt`)."""
    with db.write():
        return (
            db.execute(
                "UPDATE ils_queue SET checkin_started_at = COALESCE(checkin_started_at, ?)"
                " WHERE id = ? AND state IN ('pending', 'live')",
                (time_text(now), call.id),
            )
            == 1
        )


def settle(db: Database, call: LiveCheckout, state: str, note: str, now: datetime) -> None:
    """The live checkout's last state, with why; a conflict also makes an exception row
    for staff (reason `UNCLAIMED`), in the same transaction."""
    with db.write():
        updated = db.execute(
            "UPDATE ils_queue SET state = ?, done_at = ?, last_error = ? WHERE id = ? AND state IN ('pending', 'live')",
            (state, time_text(now), note[:300], call.id),
        )
        if updated and state == "conflict":
            summary = (
                f"SIP2 system {call.system}: live checkout of item {call.item} at {call.library_id}"
                f" by kiosk {call.kiosk_id or '-'} (call {call.id}), no loan txn followed: {note}"
            )
            staff_exceptions.record(db, "-", call.kiosk_id or "-", UNCLAIMED, summary[:500], now)


def retry_later(db: Database, call: LiveCheckout, error: str) -> None:
    """The 09 did not get through: the row stays open (and unclaimable) for the next try."""
    with db.write():
        db.execute("UPDATE ils_queue SET last_error = ? WHERE id = ?", (error[:300], call.id))


def open_count(db: Database, system: str) -> int:
    """Live checkouts of `system` waiting for their txn (`hub status`)."""
    return int(
        db.scalar(
            "SELECT count(*) FROM ils_queue WHERE system = ? AND op = ? AND state IN ('pending', 'live')",
            (system, OP),
        )
    )
