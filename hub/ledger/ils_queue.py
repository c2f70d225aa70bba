"""The ledger's record of what the hub told each member's library system (SIP2), and
what it still owes it: the tables `ils_queue` and `ils_links` (hub/ledger/ledger_sql.py).

One row of `ils_queue` is one SIP2 call about one book:

    state      meaning
    live       made while a kiosk waited (checkout_auth, renew_auth, return_route) and
               answered; waits for the kiosk's txn, which claims it (`claim_live_call`;
               checkouts and checkins: their own modules, below)
    queued     owed: the txn is committed in the ledger, the system has not been told;
               the drainer (hub/ils/ils_drainer.py) sends it, oldest first per system
    delivered  the system has it (answered by a live call its txn claimed, or drained)
    conflict   the system refused it; an exception row tells staff (never dropped)
    superseded heard after a later call about the same book was settled: not sent, since
               the system is already past it (`next_queued`); `last_error` names that call

A checkout made while a kiosk waits is a live checkout (hub/ledger/ils_live.py): recorded
`pending` before its 11 is sent, `live` once lent, and checked back in when no loan txn
claims it in time; its states are listed there. A checkin made while a kiosk waits for
the route (`return_route`) is a live checkin (hub/ledger/ils_live_checkin.py): recorded
`pending` before its 09 is sent, `live` or `refused` once answered, and settled by its
return txn: a pending one is then `queued` with its send counted (a retry), a refused one
judged by `checkin_refusal_agrees` as a queued 09's refusal is.

`attempts` counts sends that began to leave: a call whose answer was lost counts, so a
second answer such as "item not checked out" is read as "the first one arrived"; a try
that never reached the system (it was down, connecting failed) does not, so it hides no
disagreement. Counted just before the bytes go, a send the worker died before making
counts too: "maybe sent", as a send whose answer was lost. `ils_links`
has one row per system: up or down, the last error, and the lease that lets one worker
at a time drain that system's queue.

Every function takes a `Database`; the ones a txn commit calls run inside its
transaction, so a txn and what it owes a system commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.ledger import queries, staff_exceptions
from hub.ledger.ledger_sql import Database, parse_time_text, time_text

OPS = ("checkout", "checkin", "renew")
# A live call older than this is not claimed by a txn: the reader's session is long over.
LIVE_CLAIM_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class QueuedCall:
    """One owed call, as the drainer sends it."""

    id: int
    system: str
    op: str
    item: str
    patron_id: str | None
    card_hash: str | None
    txn_id: str | None
    kiosk_id: str | None
    library_id: str
    at: datetime
    attempts: int


@dataclass(frozen=True)
class LinkRow:
    """A system as `python -m hub status` shows it."""

    system: str
    state: str  # up, down, unknown
    last_error: str | None
    changed_at: datetime | None
    checked_at: datetime | None
    queued: int
    conflicts: int
    live: int = 0  # live checkouts waiting for their loan txn (hub/ledger/ils_live.py)


# ---------------------------------------------------------------- calls made live


def record_live_call(
    db: Database,
    system: str,
    op: str,
    item: str,
    library_id: str,
    at: datetime,
    *,
    patron_id: str | None = None,
    card_hash: str | None = None,
    due: datetime | None = None,
) -> None:
    """A call the system answered while a kiosk waited (a renewal); its txn claims it later.
    Live checkouts and checkins are recorded before they are sent instead
    (hub/ledger/ils_live.py, hub/ledger/ils_live_checkin.py)."""
    db.execute(
        "INSERT INTO ils_queue (system, op, item, patron_id, card_hash, library_id, at, state, attempts,"
        " due, created_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'live', 1, ?, ?, ?)",
        (
            system, op, item, patron_id, card_hash, library_id, time_text(at),
            time_text(due) if due else None, time_text(at), time_text(at),
        ),
    )  # fmt: skip


def claim_live_call(
    db: Database, system: str, op: str, item: str, card_hash: str | None, txn_id: str, kiosk_id: str, now: datetime
) -> tuple[int, datetime | None] | None:
    """The newest unclaimed live call of this kind for this book (and reader), now
    delivered under `txn_id`: its id and the system's due date; None when there is none."""
    since = time_text(now - LIVE_CLAIM_WINDOW)
    if card_hash is None:
        row = db.query_one(
            "SELECT id, due FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND state = 'live'"
            " AND created_at >= ? ORDER BY id DESC LIMIT 1",
            (system, op, item, since),
        )
    else:
        row = db.query_one(
            "SELECT id, due FROM ils_queue WHERE system = ? AND op = ? AND item = ? AND card_hash = ?"
            " AND state = 'live' AND created_at >= ? ORDER BY id DESC LIMIT 1",
            (system, op, item, card_hash, since),
        )
    if row is None:
        return None
    db.execute(
        "UPDATE ils_queue SET state = 'delivered', txn_id = ?, kiosk_id = ? WHERE id = ?", (txn_id, kiosk_id, row[0])
    )
    return int(row[0]), parse_time_text(row[1])


# ---------------------------------------------------------------- the queue


def enqueue(
    db: Database,
    system: str,
    op: str,
    item: str,
    library_id: str,
    at: datetime,
    now: datetime,
    *,
    txn_id: str,
    kiosk_id: str,
    patron_id: str | None = None,
    card_hash: str | None = None,
) -> int:
    """Owe `system` a call for a committed txn; returns the row id (order of sending)."""
    if op not in OPS:
        raise ValueError(f"unknown SIP2 operation {op!r}")
    db.execute(
        "INSERT INTO ils_queue (system, op, item, patron_id, card_hash, txn_id, kiosk_id, library_id, at,"
        " state, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?)",
        (system, op, item, patron_id, card_hash, txn_id, kiosk_id, library_id, time_text(at), time_text(now)),
    )
    return int(db.scalar("SELECT max(id) FROM ils_queue WHERE txn_id = ? AND op = ?", (txn_id, op)))


def item_waiting(db: Database, system: str, item: str) -> bool:
    """Does `system` still owe a call about this book? A live call must not overtake it."""
    return (
        db.query_one(
            "SELECT 1 FROM ils_queue WHERE system = ? AND item = ? AND state = 'queued' LIMIT 1", (system, item)
        )
        is not None
    )


def next_queued(db: Database, system: str, now: datetime) -> QueuedCall | None:
    """The call `system` is owed first: the earliest by when its reader was told (`at`),
    not by when the hub heard of it, so a kiosk's backlog that arrives late still reaches
    the system in the readers' order. A call older than one about the same book that the
    system has already settled (delivered or refused) is `superseded` on the way, never
    sent: the system is past it, and sending it now would undo the later one (a return
    heard after the next loan would put a lent book back on the shelf)."""
    while True:
        row = db.query_one(
            "SELECT id, system, op, item, patron_id, card_hash, txn_id, kiosk_id, library_id, at, attempts"
            " FROM ils_queue WHERE system = ? AND state = 'queued' ORDER BY at, id LIMIT 1",
            (system,),
        )
        if row is None:
            return None
        later = db.query_one(
            "SELECT id, op FROM ils_queue WHERE system = ? AND item = ? AND state IN ('delivered', 'conflict')"
            " AND at > ? ORDER BY at DESC LIMIT 1",
            (system, row[3], row[9]),
        )
        if later is None:
            at = parse_time_text(row[9])
            assert at is not None
            return QueuedCall(
                int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], at, int(row[10])
            )
        with db.write():
            db.execute(
                "UPDATE ils_queue SET state = 'superseded', done_at = ?, last_error = ? WHERE id = ? AND state = 'queued'",
                (time_text(now), f"superseded: the system already had the later {later[1]} (call {later[0]})", row[0]),
            )




def checkin_refusal_agrees(db: Database, call: QueuedCall) -> str | None:
    """Why a first 09 answered "item not checked out" is what the hub itself told the
    system, or None (the system disagrees: a conflict for staff). It agrees when the
    return ends no loan the system was told of: the ledger had none open (a return heard
    before the loan it ends, whose 11 is then superseded; a book nobody lent), or that
    loan's 11 never reached the system (superseded, refused, still owed). A loan with no
    call at all (lent before the hub spoke SIP2 to its system) is not known to be untold."""
    if call.txn_id is None:
        return None
    loan = queries.loan_ended_by(db, call.item, call.txn_id, time_text(call.at))
    if loan is None:
        return "answered not checked out: the ledger had no loan of the book open when the return came, so the system agrees"
    states = {
        row[0]
        for row in db.query(
            "SELECT state FROM ils_queue WHERE system = ? AND op = 'checkout' AND txn_id = ?", (call.system, loan)
        )
    }
    if states and "delivered" not in states:
        return f"answered not checked out: the system was never told the loan it ends (txn {loan}), so it agrees"
    return None


def begin_attempt(db: Database, call_id: int) -> None:
    """Count a send just before its request leaves (committed first), so a lost answer
    still counts as an attempt and a try that never reached the system does not."""
    with db.write():
        db.execute("UPDATE ils_queue SET attempts = attempts + 1 WHERE id = ?", (call_id,))


def note_error(db: Database, call_id: int, error: str) -> None:
    with db.write():
        db.execute("UPDATE ils_queue SET last_error = ? WHERE id = ?", (error[:300], call_id))


def mark_delivered(db: Database, call_id: int, now: datetime, due: datetime | None = None, note: str | None = None) -> None:
    with db.write():
        db.execute(
            "UPDATE ils_queue SET state = 'delivered', done_at = ?, due = COALESCE(?, due), last_error = ?"
            " WHERE id = ? AND state = 'queued'",
            (time_text(now), time_text(due) if due else None, note, call_id),
        )


def mark_conflict(db: Database, call: QueuedCall, reason: str, summary: str, now: datetime) -> None:
    """The system refused an owed call: kept as a conflict and as an exception for staff
    (the hub's exceptions table), in one transaction."""
    with db.write():
        updated = db.execute(
            "UPDATE ils_queue SET state = 'conflict', done_at = ?, last_error = ? WHERE id = ? AND state = 'queued'",
            (time_text(now), f"{reason}: {summary}"[:300], call.id),
        )
        if updated:
            staff_exceptions.record(db, call.txn_id or "-", call.kiosk_id or "-", reason, summary[:500], now)


def record_conflict_now(
    db: Database, system: str, op: str, item: str, library_id: str, at: datetime, now: datetime,
    *, txn_id: str, kiosk_id: str, reason: str, summary: str, card_hash: str | None = None,
) -> None:  # fmt: skip
    """A call that cannot even be queued (no guest patron for the card's scheme): a
    conflict row and an exception for staff, inside the caller's transaction."""
    db.execute(
        "INSERT INTO ils_queue (system, op, item, card_hash, txn_id, kiosk_id, library_id, at, state, attempts,"
        " last_error, created_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'conflict', 0, ?, ?, ?)",
        (
            system, op, item, card_hash, txn_id, kiosk_id, library_id, time_text(at),
            f"{reason}: {summary}"[:300], time_text(now), time_text(now),
        ),
    )  # fmt: skip
    staff_exceptions.record(db, txn_id, kiosk_id, reason, summary[:500], now)


def calls(db: Database, system: str | None = None) -> list[tuple[str, str, str, str | None, str]]:
    """(system, op, item, txn_id, state) of every call, oldest first (tests, audits)."""
    if system is None:
        rows = db.query("SELECT system, op, item, txn_id, state FROM ils_queue ORDER BY id")
    else:
        rows = db.query("SELECT system, op, item, txn_id, state FROM ils_queue WHERE system = ? ORDER BY id", (system,))
    return [tuple(r) for r in rows]  # type: ignore[misc]


# ---------------------------------------------------------------- links


def outcomes(db: Database) -> list[tuple[int, str, str, str, str | None, str | None]]:
    """(id, op, item, state, last_error, txn_id) of every call, in order: what became of
    each (a soak's or an audit's view: delivered, refused with a reason, superseded)."""
    return [
        (int(r[0]), r[1], r[2], r[3], r[4], r[5])
        for r in db.query("SELECT id, op, item, state, last_error, txn_id FROM ils_queue ORDER BY id")
    ]


def note_link(db: Database, system: str, up: bool, now: datetime, error: str | None = None) -> None:
    """What the last contact with `system` showed; `changed_at` moves only on a change."""
    state = "up" if up else "down"
    with db.write():
        db.execute(
            "INSERT INTO ils_links (system, state, last_error, changed_at, checked_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (system) DO UPDATE SET"
            " changed_at = CASE WHEN ils_links.state = excluded.state THEN ils_links.changed_at"
            " ELSE excluded.changed_at END,"
            " state = excluded.state, checked_at = excluded.checked_at,"
            " last_error = COALESCE(excluded.last_error, ils_links.last_error)",
            (system, state, error[:300] if error else None, time_text(now), time_text(now)),
        )


def take_lease(db: Database, system: str, worker: str, now: datetime, lease: timedelta) -> bool:
    """May `worker` drain `system` now? One worker at a time holds a system's lease; it
    lapses `lease` after the holder last renewed it (a dead worker's passes on)."""
    with db.write():
        db.execute(
            "INSERT INTO ils_links (system, state) VALUES (?, 'unknown') ON CONFLICT (system) DO NOTHING", (system,)
        )
        taken = db.execute(
            "UPDATE ils_links SET lease_worker = ?, lease_until = ? WHERE system = ?"
            " AND (lease_worker IS NULL OR lease_worker = ? OR lease_until IS NULL OR lease_until < ?)",
            (worker, time_text(now + lease), system, worker, time_text(now)),
        )
    return taken == 1


def release_lease(db: Database, system: str, worker: str) -> None:
    with db.write():
        db.execute(
            "UPDATE ils_links SET lease_worker = NULL, lease_until = NULL WHERE system = ? AND lease_worker = ?",
            (system, worker),
        )


def links(db: Database, systems: tuple[str, ...] = ()) -> list[LinkRow]:
    """Every system the ledger has heard of, and `systems` (configured) even if not."""
    known = {
        row[0]: row
        for row in db.query("SELECT system, state, last_error, changed_at, checked_at FROM ils_links ORDER BY system")
    }
    counts: dict[tuple[str, str], int] = {
        (row[0], row[1]): int(row[2])
        for row in db.query(
            "SELECT system, state, count(*) FROM ils_queue WHERE state IN ('queued', 'conflict') GROUP BY system, state"
        )
    }
    live: dict[str, int] = {
        row[0]: int(row[1])
        for row in db.query(
            "SELECT system, count(*) FROM ils_queue WHERE op = 'checkout' AND state IN ('pending', 'live')"
            " GROUP BY system"
        )
    }
    names = list(dict.fromkeys([*systems, *known, *(s for s, _ in counts), *live]))
    result = []
    for name in names:
        row = known.get(name)
        result.append(
            LinkRow(
                system=name,
                state=row[1] if row else "unknown",
                last_error=row[2] if row else None,
                changed_at=parse_time_text(row[3]) if row else None,
                checked_at=parse_time_text(row[4]) if row else None,
                queued=counts.get((name, "queued"), 0),
                conflicts=counts.get((name, "conflict"), 0),
                live=live.get(name, 0),
            )
        )
    return result
