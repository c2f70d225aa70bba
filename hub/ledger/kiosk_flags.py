"""Flags the hub raises on a kiosk it has stopped taking at its word: a clock too far
from the hub's, a kiosk guessing PINs or walking card numbers, one over a cap. A flag is
for staff: it shows in `python -m hub status` beside the kiosk, with what raised it, how
often and since when, until staff clear it (`clear_flag`).

What a caller may rely on: raising a flag that is already up keeps its first time,
counts one more, and keeps the newest detail; a detail is written for staff and never
holds a card number or a name (callers pass codes, counts and kiosk ids only). Every
worker writes to the same ledger table, so what one worker saw, all report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.ledger.ledger_sql import Database, parse_time_text, time_text

# The flags the hub raises (docs/security.md, "Flagged kiosks").
CLOCK_OFF = "clock_off"  # its clock offset is beyond the configured limit
PIN_GUESSING = "pin_guessing"  # wrong PINs across many cards
CARD_WALKING = "card_walking"  # many unknown card numbers
OVER_CAP = "over_cap"  # parked txns, epochs or txn rate over their caps
IMPLAUSIBLE_RETURNS = "implausible_returns"  # returns that cannot be true


@dataclass(frozen=True)
class KioskFlag:
    kiosk_id: str
    flag: str
    detail: str
    raised_at: datetime
    last_at: datetime
    count: int

    def as_json(self) -> dict[str, object]:
        return {
            "flag": self.flag,
            "detail": self.detail,
            "raised_at": self.raised_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "count": self.count,
        }


def raise_flag(db: Database, kiosk_id: str, flag: str, detail: str, now: datetime) -> None:
    """Raise `flag` on `kiosk_id` (or count it again when it is already up), inside the
    caller's write transaction (`Ledger.raise_kiosk_flag` opens one)."""
    stamp = time_text(now)
    db.execute(
        "INSERT INTO kiosk_flags (kiosk_id, flag, detail, raised_at, last_at, count) VALUES (?, ?, ?, ?, ?, 1)"
        " ON CONFLICT (kiosk_id, flag) DO UPDATE SET detail = excluded.detail, last_at = excluded.last_at,"
        " count = kiosk_flags.count + 1",
        (kiosk_id, flag, detail[:300], stamp, stamp),
    )


def clear_flag(db: Database, kiosk_id: str, flag: str | None = None) -> int:
    """Lower one flag of a kiosk, or all of them, inside the caller's write transaction;
    how many were up."""
    if flag is None:
        return db.execute("DELETE FROM kiosk_flags WHERE kiosk_id = ?", (kiosk_id,))
    return db.execute("DELETE FROM kiosk_flags WHERE kiosk_id = ? AND flag = ?", (kiosk_id, flag))


def flags(db: Database, kiosk_id: str | None = None) -> list[KioskFlag]:
    """The flags up, by kiosk and flag."""
    where, params = (" WHERE kiosk_id = ?", (kiosk_id,)) if kiosk_id is not None else ("", ())
    rows = db.query(
        "SELECT kiosk_id, flag, detail, raised_at, last_at, count FROM kiosk_flags" + where + " ORDER BY kiosk_id, flag",
        params,
    )
    return [
        KioskFlag(
            kiosk_id=r[0],
            flag=r[1],
            detail=r[2],
            raised_at=parse_time_text(r[3]) or datetime.min,
            last_at=parse_time_text(r[4]) or datetime.min,
            count=int(r[5]),
        )
        for r in rows
    ]


def is_flagged(db: Database, kiosk_id: str, flag: str) -> bool:
    return db.scalar("SELECT count(*) FROM kiosk_flags WHERE kiosk_id = ? AND flag = ?", (kiosk_id, flag)) > 0
