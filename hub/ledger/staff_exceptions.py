"""Staff exceptions as staff work them: listed with the book and the (masked) reader,
and resolved one by one with a record of who closed it, when, and why.

An exception row (`record`: written by the txn's effects, hub/ledger/txn_effects.py, and
the ILS leg's conflicts, hub/ledger/ils_queue.py and its live calls) names a txn, a
kiosk, a reason code and a summary; the book and the reader come from the txn, its item
and the reader holding its card, so nothing about a reader is stored twice and no card
number is shown (the name is masked, `contract.privacy.mask_name`). An exception is
`open` until `resolve` records `resolved_at`, `resolved_by` and `resolved_note`; a
resolved one is never reopened or resolved again, so the record stays the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contract.privacy import mask_name
from hub.ledger.exception_reasons import describe_reason
from hub.ledger.ledger_sql import Database, parse_time_text, time_text


class ResolveError(ValueError):
    """An exception that cannot be resolved (unknown id, already resolved): the message
    says which and, for a resolved one, when and by whom."""


def record(db: Database, txn_id: str, kiosk_id: str, reason: str, summary: str, now: datetime) -> None:
    """An exception row for staff, open (inside the caller's transaction)."""
    db.execute(
        "INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES (?, ?, ?, ?, ?)",
        (txn_id, kiosk_id, reason, summary, time_text(now)),
    )


@dataclass(frozen=True)
class StaffException:
    """One exception as `python -m hub exceptions` shows it."""

    id: int
    txn_id: str
    kiosk_id: str
    reason: str
    summary: str
    at: datetime
    library_id: str | None = None
    kind: str | None = None  # loan, return, renew (None: no txn row, e.g. a SIP2 call)
    mode: str | None = None  # online, offline
    item: str | None = None
    title: str | None = None
    reader: str | None = None  # masked name
    scheme: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolved_note: str | None = None

    @property
    def state(self) -> str:
        return "open" if self.resolved_at is None else "resolved"

    @property
    def reason_text(self) -> str:
        return describe_reason(self.reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "reason": self.reason,
            "reason_text": self.reason_text,
            "at": self.at.isoformat(),
            "kiosk_id": self.kiosk_id,
            "library_id": self.library_id,
            "txn_id": self.txn_id,
            "kind": self.kind,
            "mode": self.mode,
            "item": self.item,
            "title": self.title,
            "reader": self.reader,
            "scheme": self.scheme,
            "summary": self.summary,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "resolved_note": self.resolved_note,
        }


_SELECT = (
    "SELECT e.id, e.txn_id, e.kiosk_id, e.reason, e.summary, e.at,"
    " t.library_id, t.kind, t.mode, t.item, i.title, r.name, r.scheme,"
    " e.resolved_at, e.resolved_by, e.resolved_note"
    " FROM exceptions e"
    " LEFT JOIN txns t ON t.txn_id = e.txn_id"
    " LEFT JOIN items i ON i.barcode = t.item"
    " LEFT JOIN readers r ON r.card_hash = t.card_hash"
)


def staff_exceptions(
    db: Database,
    kiosk_id: str | None = None,
    since: datetime | None = None,
    only_open: bool = False,
) -> list[StaffException]:
    """Exceptions oldest first; only kiosk `kiosk_id`'s, only those recorded at or after
    `since`, only open ones, as asked."""
    where, params = [], []
    if kiosk_id is not None:
        where.append("e.kiosk_id = ?")
        params.append(kiosk_id)
    if since is not None:
        where.append("e.at >= ?")
        params.append(time_text(since))
    if only_open:
        where.append("e.resolved_at IS NULL")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.id"
    return [_row(r) for r in db.query(sql, tuple(params))]


def staff_exception(db: Database, exception_id: int) -> StaffException | None:
    row = db.query_one(_SELECT + " WHERE e.id = ?", (exception_id,))
    return None if row is None else _row(row)


def resolve(db: Database, exception_id: int, by: str, note: str, now: datetime) -> StaffException:
    """Close exception `exception_id` with its record; ResolveError when there is no such
    exception or it was resolved before (the first record stands)."""
    with db.write():
        updated = db.execute(
            "UPDATE exceptions SET resolved_at = ?, resolved_by = ?, resolved_note = ?"
            " WHERE id = ? AND resolved_at IS NULL",
            (time_text(now), by, note, exception_id),
        )
    found = staff_exception(db, exception_id)
    if found is None:
        raise ResolveError(f"no exception {exception_id} (python -m hub exceptions lists them)")
    if not updated:
        assert found.resolved_at is not None
        raise ResolveError(
            f"exception {exception_id} was already resolved at "
            f"{found.resolved_at.isoformat(timespec='seconds')} by {found.resolved_by}: {found.resolved_note}"
        )
    return found


def open_counts(db: Database) -> dict[str, int]:
    """kiosk id -> its open exceptions (for `hub status`)."""
    rows = db.query("SELECT kiosk_id, COUNT(*) FROM exceptions WHERE resolved_at IS NULL GROUP BY kiosk_id")
    return {r[0]: int(r[1]) for r in rows}


def _row(r: tuple[Any, ...]) -> StaffException:
    at = parse_time_text(r[5])
    assert at is not None
    return StaffException(
        id=int(r[0]),
        txn_id=r[1],
        kiosk_id=r[2],
        reason=r[3],
        summary=r[4],
        at=at,
        library_id=r[6],
        kind=r[7],
        mode=r[8],
        item=r[9],
        title=r[10],
        reader=mask_name(r[11]) if r[11] else None,
        scheme=r[12],
        resolved_at=parse_time_text(r[13]),
        resolved_by=r[14],
        resolved_note=r[15],
    )
