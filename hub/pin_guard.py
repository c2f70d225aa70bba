"""Per-kiosk PIN guessing: one PIN tried across many cards from one kiosk.

The card lockout (hub/pins.py) stops many PINs tried on one card. It does not stop one
PIN ("123456") tried on hundreds of cards, each getting a few guesses below its lockout:
issue 10 found 2 of 399 cards that way. And because a wrong PIN counts toward a card's
lockout, the same kiosk could lock any reader out by typing wrong PINs for card numbers.

`PinGuessGuard` watches failed PIN checks per kiosk in a sliding window:

- A kiosk is *suspect* once its failures in the last `window` span `suspect_cards`
  distinct cards or more. A suspect kiosk's wrong PINs no longer count toward the
  reader's lockout (the kiosk, not the reader, is the problem).
- A kiosk is *paused* once its failures in the window reach `max_failures` across at
  least `suspect_cards` distinct cards: for `pause`, doubling on each pause while the
  failures keep coming (capped at `max_pause`), every pin_check from it is answered
  `ok=false, error="pin_checks_paused"` without touching the ledger.
- A reader mistyping their own PIN three times is one card, never suspect.

What a caller may rely on: the guard knows card hashes only and logs the kiosk id,
never a card. State is in the memory of one hub worker, like the request rate limit
(hub/rate_limit.py): with W workers sharing a kiosk's requests each sees about 1/W of
them, so the effective thresholds are W times higher; a restart forgets the window.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

PIN_CHECKS_PAUSED = "pin_checks_paused"


@dataclass
class _KioskWindow:
    failures: deque[tuple[datetime, str]] = field(default_factory=deque)
    paused_until: datetime | None = None
    pauses: int = 0


class PinGuessGuard:
    """The per-kiosk window of failed PIN checks (module doc). Times are the hub's
    clock, passed in, so tests need no sleeping."""

    def __init__(
        self,
        max_failures: int = 10,
        suspect_cards: int = 3,
        window: timedelta = timedelta(minutes=10),
        pause: timedelta = timedelta(minutes=5),
        max_pause: timedelta = timedelta(hours=1),
    ) -> None:
        self.max_failures = max_failures
        self.suspect_cards = suspect_cards
        self.window = window
        self.pause = pause
        self.max_pause = max_pause
        self._kiosks: dict[str, _KioskWindow] = {}

    def _window(self, kiosk_id: str, now: datetime) -> _KioskWindow:
        state = self._kiosks.setdefault(kiosk_id, _KioskWindow())
        while state.failures and state.failures[0][0] <= now - self.window:
            state.failures.popleft()
        if not state.failures and (state.paused_until is None or state.paused_until <= now - self.window):
            state.pauses = 0
        return state

    def paused_until(self, kiosk_id: str, now: datetime) -> datetime | None:
        """When `kiosk_id`'s pin checks are answered again, while they are paused."""
        state = self._window(kiosk_id, now)
        if state.paused_until is not None and state.paused_until > now:
            return state.paused_until
        return None

    def suspect(self, kiosk_id: str, now: datetime) -> bool:
        """Whether `kiosk_id`'s recent failures span enough cards that its wrong PINs must
        not count toward any reader's lockout."""
        state = self._window(kiosk_id, now)
        cards = {card for _, card in state.failures}
        return len(cards) >= self.suspect_cards or self.paused_until(kiosk_id, now) is not None

    def record_failure(self, kiosk_id: str, card_hash: str, now: datetime) -> None:
        """Note one wrong PIN for `card_hash` at `kiosk_id`, pausing the kiosk when it
        crosses the limit (one warning line, naming the kiosk only)."""
        state = self._window(kiosk_id, now)
        state.failures.append((now, card_hash))
        cards = {card for _, card in state.failures}
        if len(state.failures) >= self.max_failures and len(cards) >= self.suspect_cards:
            length = min(self.max_pause, self.pause * (2**state.pauses))
            state.pauses += 1
            state.paused_until = now + length
            state.failures.clear()
            log.warning(
                "kiosk %s: PIN checks paused until %s: %d wrong PINs on %d cards within %s",
                kiosk_id, state.paused_until.isoformat(), self.max_failures, len(cards), self.window,
            )
