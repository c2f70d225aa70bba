"""When the hub heard each kiosk: intervals of presence, so "offline" can be checked.

A kiosk's offline txns carry the kiosk's word that it could not reach the hub. The hub
keeps its own record (`kiosk_presence`: kiosk_id, from_at, to_at, closed) of when it
heard the kiosk, on its own clock: every request, txn, telemetry and "online" state a
worker handles is an event (`record_heard`); events less than `gap` apart extend one
interval; a kiosk's "offline" state (its will, or a clean stop) closes the interval, so
the next event starts a new one even seconds later (`record_gone`), and so does a fresh
"online" state, which a kiosk publishes on every (re)connect: its session before that
ended, however briefly. Retained messages replayed to a worker at its start are not
events: they say nothing about that moment.

What a caller may rely on:

- `heard_around(kiosk, at)` is True only when `at` lies inside one interval: the hub
  heard the kiosk before and after `at`, never more than `gap` apart, and no "offline"
  state closed the interval in between (an outage the broker noticed, however short,
  leaves no interval over it).
- `heard_between(kiosk, start, end)`: the hub heard the kiosk at some moment in
  [start, end] (to the resolution of `gap`).
- Writes are cheap: `PresenceWriter` writes an interval's end at most once per
  `resolution` per kiosk (per worker), so a kiosk's requests do not each cost a
  database write. Every worker writes into the same table, so what one worker heard,
  all judge by.
- History is bounded: a kiosk's intervals that ended longer ago than the writer's
  `keep` (the offline window and a day: nothing older is judged) are deleted as new
  ones begin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.ledger.ledger_sql import Database, parse_time_text, time_text


def record_heard(db: Database, kiosk_id: str, now: datetime, gap: timedelta, keep: timedelta | None = None) -> None:
    """The hub heard `kiosk_id` at `now`: extend its latest open interval when that one
    ended less than `gap` ago, else start a new one (inside the caller's transaction, or
    on its own), and then forget the kiosk's intervals that ended more than `keep` ago."""
    row = db.query_one(
        "SELECT id, to_at, closed FROM kiosk_presence WHERE kiosk_id = ? ORDER BY id DESC LIMIT 1", (kiosk_id,)
    )
    stamp = time_text(now)
    if row is not None and not row[2]:
        ended = parse_time_text(row[1])
        if ended is not None and now - ended <= gap:
            if stamp > row[1]:
                db.execute("UPDATE kiosk_presence SET to_at = ? WHERE id = ?", (stamp, row[0]))
            return
    db.execute(
        "INSERT INTO kiosk_presence (kiosk_id, from_at, to_at, closed) VALUES (?, ?, ?, 0)",
        (kiosk_id, stamp, stamp),
    )
    if keep is not None:
        db.execute("DELETE FROM kiosk_presence WHERE kiosk_id = ? AND to_at < ?", (kiosk_id, time_text(now - keep)))


def record_gone(db: Database, kiosk_id: str, now: datetime) -> None:
    """The kiosk's session ended at `now` (its "offline" state): close its latest
    interval, so whatever the hub hears next starts another."""
    db.execute(
        "UPDATE kiosk_presence SET closed = 1 WHERE id ="
        " (SELECT max(id) FROM kiosk_presence WHERE kiosk_id = ?) AND closed = 0",
        (kiosk_id,),
    )


def heard_between(db: Database, kiosk_id: str, start: datetime, end: datetime) -> bool:
    """Whether the hub heard `kiosk_id` at some moment in [start, end]."""
    if end < start:
        return False
    began = _first_ending_from(db, kiosk_id, start)
    return began is not None and began <= time_text(end)


def heard_around(db: Database, kiosk_id: str, at: datetime) -> bool:
    """Whether `at` lies inside one interval of `kiosk_id`: the hub heard the kiosk
    before and after it, never more than the interval's `gap` apart, and no "offline"
    state came in between."""
    began = _first_ending_from(db, kiosk_id, at)
    return began is not None and began <= time_text(at)


def _first_ending_from(db: Database, kiosk_id: str, moment: datetime) -> str | None:
    """The start (time_text) of the kiosk's first interval ending at or after `moment`:
    intervals of one kiosk follow one another, so it is the only one that can hold
    `moment` or begin soonest after it (one index range step, however long the history)."""
    return db.scalar(
        "SELECT from_at FROM kiosk_presence WHERE kiosk_id = ? AND to_at >= ? ORDER BY to_at LIMIT 1",
        (kiosk_id, time_text(moment)),
    )


def heard_just_before(db: Database, kiosk_id: str, at: datetime, margin: timedelta) -> bool:
    """Whether the hub heard the kiosk in the `margin` before `at` in a session that has
    not ended since (its latest interval began by `at` and is still open: no "offline"
    state, no reconnect)."""
    row = db.query_one(
        "SELECT from_at, to_at, closed FROM kiosk_presence WHERE kiosk_id = ? ORDER BY id DESC LIMIT 1",
        (kiosk_id,),
    )
    if row is None or row[2]:
        return False
    began, ended = parse_time_text(row[0]), parse_time_text(row[1])
    return began is not None and ended is not None and began <= at and ended >= at - margin


def intervals(db: Database, kiosk_id: str) -> list[tuple[datetime, datetime, bool]]:
    """(from, to, closed) of every interval of the kiosk, oldest first (staff, tests)."""
    rows = db.query(
        "SELECT from_at, to_at, closed FROM kiosk_presence WHERE kiosk_id = ? ORDER BY id", (kiosk_id,)
    )
    return [(datetime.fromisoformat(r[0]), datetime.fromisoformat(r[1]), bool(r[2])) for r in rows]


@dataclass
class PresenceWriter:
    """Records what one worker heard, writing a kiosk's interval at most once per
    `resolution` (the first event of a new interval is always written). `gap` merges
    events into one interval (`[hub] offline_presence_margin_s`)."""

    gap: timedelta
    keep: timedelta | None = None  # intervals older than this are forgotten (None: kept)
    resolution: timedelta = timedelta(seconds=1)
    max_kiosks: int = 10_000
    _written: dict[str, datetime] = field(default_factory=dict)

    def heard(self, db: Database, kiosk_id: str, now: datetime) -> None:
        last = self._written.get(kiosk_id)
        if last is not None and timedelta(0) <= now - last < self.resolution:
            return
        if len(self._written) >= self.max_kiosks:
            self._written.clear()  # invented kiosk ids cannot grow memory
        record_heard(db, kiosk_id, now, self.gap, self.keep)
        self._written[kiosk_id] = now

    def gone(self, db: Database, kiosk_id: str, now: datetime) -> None:
        record_gone(db, kiosk_id, now)
        self._written.pop(kiosk_id, None)
