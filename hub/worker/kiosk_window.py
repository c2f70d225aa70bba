"""What one kiosk did lately, in a sliding window, and the pause it earned: the common
part of the hub's guards against a kiosk guessing PINs (hub/worker/pin_guard.py) and walking
card numbers (hub/worker/card_walk_guard.py).

A guard notes events (a wrong PIN, an unknown card) with the card they were about, by
card hash. When a guard decides a kiosk crossed its limit it pauses the kiosk: the first
pause lasts `pause`, each further one twice as long as the one before (capped at
`max_pause`) while the events keep coming; a window with no event and no pause starts
the kiosk afresh.

What a caller may rely on: times are the hub's clock, passed in (tests need no
sleeping); cards are hashes, never numbers; at most `max_kiosks` kiosks are remembered
(the least recently seen go first), so made-up kiosk ids cannot grow memory without
bound. State is in the memory of one hub worker, like the request rate limit
(hub/worker/rate_limit.py): with W workers sharing a kiosk's requests each sees about 1/W of
them, so the effective thresholds are W times higher; a restart forgets the window.
One instance per worker, called from its network thread only (no lock).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class KioskEvents:
    """One kiosk's recent events (time, card hash), its pause and how many it had."""

    events: deque[tuple[datetime, str]] = field(default_factory=deque)
    paused_until: datetime | None = None
    pauses: int = 0
    flagged: bool = False  # the guard's flag was raised for the events in this window

    def cards(self) -> set[str]:
        return {card for _, card in self.events}


class KioskWindows:
    """The sliding windows of one guard, by kiosk id (module doc)."""

    def __init__(
        self,
        window: timedelta,
        pause: timedelta,
        max_pause: timedelta,
        max_events: int = 10_000,
        max_kiosks: int = 10_000,
    ) -> None:
        self.window = window
        self.pause = pause
        self.max_pause = max_pause
        self.max_events = max_events
        self.max_kiosks = max_kiosks
        self._kiosks: OrderedDict[str, KioskEvents] = OrderedDict()

    def of(self, kiosk_id: str, now: datetime) -> KioskEvents:
        """The kiosk's window at `now`: older events dropped, a quiet kiosk started afresh."""
        state = self._kiosks.get(kiosk_id)
        if state is None:
            state = self._kiosks[kiosk_id] = KioskEvents()
            while len(self._kiosks) > self.max_kiosks:
                self._kiosks.popitem(last=False)
        else:
            self._kiosks.move_to_end(kiosk_id)
        while state.events and state.events[0][0] <= now - self.window:
            state.events.popleft()
        quiet = state.paused_until is None or state.paused_until <= now - self.window
        if not state.events and quiet:
            state.pauses = 0
            state.flagged = False
        return state

    def note(self, kiosk_id: str, card_hash: str, now: datetime) -> KioskEvents:
        """One more event for `kiosk_id`; its window afterwards."""
        state = self.of(kiosk_id, now)
        state.events.append((now, card_hash))
        while len(state.events) > self.max_events:
            state.events.popleft()
        return state

    def paused_until(self, kiosk_id: str, now: datetime) -> datetime | None:
        """When `kiosk_id` is answered again, while it is paused."""
        state = self.of(kiosk_id, now)
        if state.paused_until is not None and state.paused_until > now:
            return state.paused_until
        return None

    def pause_kiosk(self, kiosk_id: str, now: datetime) -> datetime:
        """Pause `kiosk_id` from `now`, each pause twice as long as its last; the window's
        events are spent (the next pause needs new ones). When it ends."""
        state = self.of(kiosk_id, now)
        length = min(self.max_pause, self.pause * (2 ** min(state.pauses, 30)))
        state.pauses += 1
        state.paused_until = now + length
        state.events.clear()
        return state.paused_until
