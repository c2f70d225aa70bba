"""Where the ledger places a kiosk's txn in time: the hub's clock decides.

A txn's `at` is the kiosk's word. The hub measures each kiosk's clock offset from its
telemetry (hub/ledger/fleet_records.py) and, within `OfflineBounds.max_clock_offset`, corrects
`at` by it (`told`: the moment the reader was told, on the hub's clock). It never
re-dates a txn by more than that:

- `kiosk_clock_off`: the kiosk's measured offset is beyond the limit (the kiosk is
  flagged `clock_off` when its telemetry says so, hub.ledger.fleet_records). Its txns, online
  or offline, are exceptions for staff, and `at` is taken as the kiosk wrote it, not
  shifted by a huge offset.
- `at_in_future`, `at_beyond_offline_window` (offline txns): see hub/ledger/txn_checks.py.
- `at_before_last_row` (offline txns carrying a journal `seq`): `at` lies more than the
  skew before the latest moment a row of the same kiosk was placed at. A kiosk's journal
  is applied in its order (hub.ledger.ordering), so its rows cannot go back in time.

No txn is placed after the hub's receipt, or before the offline window. A txn with any of these problems is placed at
its `told` moment kept inside what the hub can vouch for: not after the hub's receipt,
not before the kiosk's latest row, not before the offline window. Due-date caps count from the earlier of `told` and that
place (`Placement.due_from`), so neither a clock set ahead nor a huge offset stretches a
loan. See docs/ordering.md, "Clocks".

What a caller may rely on: `place` never raises on a hostile `at` or offset (an
out-of-range moment is a problem, not an OverflowError) and reads only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract import messages
from hub.ledger.ledger_sql import Database, parse_time_text
from hub.ledger.txn_checks import OfflineBounds

KIOSK_CLOCK_OFF = "kiosk_clock_off"
AT_BEFORE_LAST_ROW = "at_before_last_row"

# Within this, a kiosk's clock is taken as right: NTP keeps a kiosk within milliseconds,
# and a telemetry sample can read low by as long as it waited on its way.
CLOCK_DEAD_BAND_S = 2.0


@dataclass(frozen=True)
class Placement:
    """`at`: where the ledger puts the txn (the hub's clock); `told`: the kiosk's `at`
    corrected by an offset within the bound (or as written, when the offset is not);
    `problems`: the reason codes, in the order staff should read them."""

    at: datetime
    told: datetime
    problems: tuple[str, ...] = ()

    @property
    def due_from(self) -> datetime:
        """The moment a due-date cap counts from: the earlier of the two."""
        return min(self.at, self.told)


def clock_offset_s(db: Database, kiosk_id: str) -> float:
    """How far the kiosk's clock runs ahead of the hub's (telemetry), 0 when unknown or
    within CLOCK_DEAD_BAND_S."""
    offset = float(db.scalar("SELECT clock_offset_s FROM fleet WHERE kiosk_id = ?", (kiosk_id,)) or 0.0)
    if not math.isfinite(offset):
        return math.inf  # beyond any bound: never applied, the kiosk's txns go to staff
    return offset if abs(offset) >= CLOCK_DEAD_BAND_S else 0.0


def place(db: Database, txn: messages.Txn, now: datetime, bounds: OfflineBounds) -> Placement:
    """Where `txn` goes in time, received at `now` (timezone-aware), and what is wrong
    with its `at` (module doc)."""
    written = txn.at if txn.at.tzinfo is not None else txn.at.replace(tzinfo=UTC)
    offset = clock_offset_s(db, txn.kiosk_id)
    problems: list[str] = []
    if abs(offset) > bounds.max_clock_offset.total_seconds():
        problems.append(KIOSK_CLOCK_OFF)
        told = written
    else:
        told = shifted(written, -offset)
    last = _latest_row_at(db, txn.kiosk_id)
    if txn.mode == "offline":
        time_problem = bounds.time_problem(told, now)
        if time_problem is not None:
            problems.append(time_problem)
        if txn.seq is not None and last is not None and told < last - bounds.skew:
            problems.append(AT_BEFORE_LAST_ROW)
    if not problems:
        # Within the skew a clock may run a little ahead; still nothing the hub holds
        # happened after the hub received it (nor, online, before the offline window).
        return Placement(min(max(told, now - bounds.window), now), told)
    lower = now - bounds.window
    if last is not None and last <= now:
        lower = max(lower, last)
    return Placement(min(max(told, lower), now), told, tuple(problems))


def _latest_row_at(db: Database, kiosk_id: str) -> datetime | None:
    """The latest moment a row of this kiosk was placed at (its txns' `order_at`)."""
    return parse_time_text(db.scalar("SELECT max(order_at) FROM txns WHERE kiosk_id = ?", (kiosk_id,)))


def shifted(moment: datetime, seconds: float) -> datetime:
    """`moment` moved by `seconds`, kept at the end of the calendar when that overflows."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)
