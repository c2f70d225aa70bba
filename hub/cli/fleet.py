"""Fleet status as a technician reads it: one line per kiosk, or JSON for tools.

A kiosk that has not been heard from for a while is shown as `silent` even if its last
retained state said online: the broker's last will only fires when the broker notices.

A city's fleet is 1,000 rows, more than anyone reads: `fleet_summary` is the one line
that counts them by state and says how many need attention (`needs_attention`), and
`python -m hub status --problems` shows only those (docs/commands.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hub.cli.table import aligned
from hub.ledger.fleet_records import FleetRow

SILENT_AFTER = timedelta(minutes=5)


def effective_state(row: FleetRow, now: datetime, silent_after: timedelta = SILENT_AFTER) -> str:
    if row.state == "online" and row.last_seen is not None and now - row.last_seen > silent_after:
        return "silent"
    return row.state


def problems(row: FleetRow, now: datetime) -> list[str]:
    """Why a technician should look at this kiosk (empty: nothing): not online (offline,
    silent, maintenance, unknown), faults, hub flags, open staff exceptions, txns waiting
    for a predecessor, a clock off by 2 s or more."""
    why = []
    state = effective_state(row, now)
    if state != "online":
        why.append(state)
    if row.faults:
        why.append("faults")
    if row.flags:
        why.append("flags")
    if row.open_exceptions:
        why.append("exceptions")
    if row.waiting:
        why.append("waiting")
    if row.clock_offset_s is not None and abs(row.clock_offset_s) >= 2:
        why.append("clock")
    return why


def needs_attention(rows: Sequence[FleetRow], now: datetime) -> list[FleetRow]:
    """The rows with `problems`, in their order."""
    return [r for r in rows if problems(r, now)]


def fleet_summary(rows: Sequence[FleetRow], now: datetime) -> str:
    """One line for the whole fleet, e.g. `1000 kiosks: 996 online, 3 offline, 1 silent;
    4 need attention (python -m hub status --problems)`."""
    if not rows:
        return "0 kiosks"
    states = Counter(effective_state(r, now) for r in rows)
    order = ["online", "offline", "silent", "maintenance", "unknown"]
    order += sorted(set(states) - set(order))
    counted = ", ".join(f"{states[s]} {s}" for s in order if states[s])
    attention = len(needs_attention(rows, now))
    verb = "needs" if attention == 1 else "need"
    tail = f"{attention} {verb} attention (python -m hub status --problems)" if attention else "none needs attention"
    return f"{len(rows)} kiosk{'s' if len(rows) != 1 else ''}: {counted}; {tail}"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _offset(seconds: float | None) -> str:
    """The kiosk's clock against the hub's: "ok" within 2 s, else how far and which way."""
    if seconds is None:
        return "-"
    if abs(seconds) < 2:
        return "ok"
    return f"{seconds:+.0f}s"


def fleet_table(rows: Sequence[FleetRow], now: datetime) -> str:
    """A fixed-width table: kiosk, library, state, last seen, journal depth, txns waiting
    for a predecessor, clock offset, open staff exceptions (`python -m hub exceptions`),
    faults, and what the hub flagged (hub.ledger.kiosk_flags)."""
    header = ("KIOSK", "LIBRARY", "STATE", "LAST SEEN", "JOURNAL", "WAITING", "CLOCK", "EXCEPTIONS", "FAULTS", "FLAGS")
    lines = [
        (
            r.kiosk_id,
            r.library_id or "-",
            effective_state(r, now),
            _ago(r.last_seen, now),
            "-" if r.journal_pending is None else str(r.journal_pending),
            str(r.waiting),
            _offset(r.clock_offset_s),
            str(r.open_exceptions) if r.open_exceptions else "-",
            ", ".join(r.faults) or "-",
            ", ".join(r.flags) or "-",
        )
        for r in rows
    ]
    if not lines:
        return "no kiosks have reported yet"
    return aligned([header, *lines])


def fleet_json(rows: Sequence[FleetRow], now: datetime) -> list[dict[str, Any]]:
    return [{**r.as_json(), "effective_state": effective_state(r, now)} for r in rows]
