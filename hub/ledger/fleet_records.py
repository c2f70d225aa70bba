"""What kiosks report about themselves (retained state, telemetry), kept in the ledger's
fleet table so every worker and `python -m hub status` see the same picture.

A state message and a telemetry message update different columns of the kiosk's one row:
neither erases what the other reported. How the rows are shown is `hub.cli.fleet`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contract import messages
from hub.ledger import kiosk_flags
from hub.ledger.ledger_sql import Database, parse_time_text, time_text


@dataclass(frozen=True)
class FleetRow:
    """One kiosk as last reported. `faults` joins the kiosk's own fault list with every
    device whose code is not "ok" (as `device:code`)."""

    kiosk_id: str
    state: str
    library_id: str | None
    firmware: str | None
    last_seen: datetime | None
    journal_pending: int | None
    faults: list[str]
    telemetry: dict[str, Any] | None
    clock_offset_s: float | None = None  # kiosk clock minus hub clock, at its last telemetry
    waiting: int = 0  # txns held back until their predecessors arrive (hub.ledger.ordering)
    flags: tuple[str, ...] = ()  # what the hub raised on it (hub.ledger.kiosk_flags)
    open_exceptions: int = 0  # staff exceptions of its txns not resolved yet (hub.ledger.staff_exceptions)

    @property
    def last_update(self) -> dict[str, Any] | None:
        """The kiosk's last update as its telemetry reported it (version, result: ok,
        rolled_back, refused or failed, reason, at), or None."""
        report = (self.telemetry or {}).get("last_update")
        return report if isinstance(report, dict) else None

    def as_json(self) -> dict[str, Any]:
        """The row for `python -m hub status --json` (without the raw telemetry)."""
        return {
            "kiosk_id": self.kiosk_id,
            "state": self.state,
            "library_id": self.library_id,
            "firmware": self.firmware,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "journal_pending": self.journal_pending,
            "faults": self.faults,
            "clock_offset_s": self.clock_offset_s,
            "txns_waiting": self.waiting,
            "flags": list(self.flags),
            "open_exceptions": self.open_exceptions,
            "last_update": self.last_update,
        }


def record_state(db: Database, kiosk_id: str, state: messages.KioskState, now: datetime) -> None:
    """Keep a kiosk's state message; a state without a library keeps the one known."""
    db.execute(
        "INSERT INTO fleet (kiosk_id, state, library_id, firmware, last_seen, faults)"
        " VALUES (?, ?, ?, ?, ?, '[]') ON CONFLICT (kiosk_id) DO UPDATE SET"
        " state = excluded.state, library_id = COALESCE(excluded.library_id, fleet.library_id),"
        " firmware = excluded.firmware, last_seen = excluded.last_seen",
        (kiosk_id, state.state, state.library_id, state.firmware, time_text(state.at or now)),
    )


def record_telemetry(
    db: Database,
    kiosk_id: str,
    telemetry: messages.Telemetry,
    now: datetime,
    max_clock_offset_s: float | None = None,
) -> None:
    """Keep a kiosk's telemetry; a kiosk first heard of by telemetry is taken as online.

    Its `at` against the hub's clock on arrival also samples how far the kiosk's clock
    runs ahead (`clock_offset_s`): see `estimate_clock_offset`. An offset beyond
    `max_clock_offset_s` raises the kiosk's `clock_off` flag (hub.ledger.kiosk_flags); the
    ledger then stops correcting that kiosk's txns by it (hub.ledger.txn_clock)."""
    faults = sorted(set(telemetry.faults) | {f"{d}:{c}" for d, c in telemetry.devices.items() if c != "ok"})
    sample = (telemetry.at - now).total_seconds() if telemetry.at.tzinfo else None
    known = db.query_one("SELECT clock_offset_s, clock_sampled_at FROM fleet WHERE kiosk_id = ?", (kiosk_id,))
    offset, sampled_at = estimate_clock_offset(
        sample, now, *(known if known is not None else (None, None))
    )
    db.execute(
        "INSERT INTO fleet (kiosk_id, state, last_seen, telemetry_json, journal_pending, faults,"
        " clock_offset_s, clock_sampled_at) VALUES (?, 'online', ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (kiosk_id) DO UPDATE SET"
        " last_seen = excluded.last_seen, telemetry_json = excluded.telemetry_json,"
        " journal_pending = excluded.journal_pending, faults = excluded.faults,"
        " clock_offset_s = excluded.clock_offset_s, clock_sampled_at = excluded.clock_sampled_at",
        (kiosk_id, time_text(now), telemetry.model_dump_json(), telemetry.journal_pending,
         json.dumps(faults), offset, sampled_at),
    )
    if max_clock_offset_s is not None and offset is not None and abs(offset) > max_clock_offset_s:
        kiosk_flags.raise_flag(
            db, kiosk_id, kiosk_flags.CLOCK_OFF,
            f"clock {offset:+.0f} s from the hub's (limit {max_clock_offset_s:.0f} s)", now,
        )  # fmt: skip


# A sample is the kiosk's clock minus the hub's on arrival, less however long the message
# waited on the way (in the broker, or behind a backlog at a busy worker): it can only
# read low. So the highest sample of a recent window is the best one.
OFFSET_WINDOW = timedelta(minutes=10)


def estimate_clock_offset(
    sample: float | None, now: datetime, known: float | None, known_at: str | None
) -> tuple[float | None, str | None]:
    """(offset, when it was sampled): the new sample when it is higher than the one
    kept or the one kept is older than OFFSET_WINDOW, else the one kept."""
    if sample is None:
        return known, known_at
    kept_at = parse_time_text(known_at)
    if known is None or kept_at is None or sample > known or now - kept_at > OFFSET_WINDOW:
        return round(sample, 3), time_text(now)
    return known, known_at


def fleet_rows(db: Database) -> list[FleetRow]:
    """Every kiosk that ever reported or was flagged, by kiosk id, with the flags the hub
    raised on it (state "unknown" for a flagged kiosk that never reported)."""
    raised: dict[str, list[str]] = {}
    for kiosk_id, flag in db.query("SELECT kiosk_id, flag FROM kiosk_flags ORDER BY flag"):
        raised.setdefault(kiosk_id, []).append(flag)
    rows = db.query(
        "SELECT kiosk_id, state, library_id, firmware, last_seen, journal_pending, faults, telemetry_json,"
        " clock_offset_s, (SELECT count(*) FROM parked p WHERE p.kiosk_id = fleet.kiosk_id),"
        " (SELECT count(*) FROM exceptions e WHERE e.kiosk_id = fleet.kiosk_id AND e.resolved_at IS NULL)"
        " FROM fleet ORDER BY kiosk_id"
    )
    reported = [
        FleetRow(
            kiosk_id=r[0],
            state=r[1],
            library_id=r[2],
            firmware=r[3],
            last_seen=parse_time_text(r[4]),
            journal_pending=r[5],
            faults=json.loads(r[6]) if r[6] else [],
            telemetry=json.loads(r[7]) if r[7] else None,
            clock_offset_s=r[8],
            waiting=int(r[9] or 0),
            flags=tuple(raised.get(r[0], ())),
            open_exceptions=int(r[10] or 0),
        )
        for r in rows
    ]
    # A kiosk the hub flagged without ever hearing its state (one that only walks card
    # numbers, say) is shown too: it is the one staff most need to see.
    known = {row.kiosk_id for row in reported}
    unheard = [
        FleetRow(kiosk_id=kiosk_id, state="unknown", library_id=None, firmware=None, last_seen=None,
                 journal_pending=None, faults=[], telemetry=None, flags=tuple(flags))
        for kiosk_id, flags in raised.items()
        if kiosk_id not in known
    ]  # fmt: skip
    return sorted(reported + unheard, key=lambda row: row.kiosk_id)
