"""Per-kiosk PIN guessing: one PIN tried across many cards from one kiosk, and a kiosk
locking readers out.

The card lockout (hub/ledger/pins.py) stops many PINs tried on one card, and every wrong PIN
counts toward it whoever sent it. It does not stop one PIN ("123456") tried on hundreds
of cards, each getting a few guesses below its lockout (issue 10 found 2 of 399 cards
that way), nor a kiosk typing wrong PINs to lock readers out. `PinGuessGuard` watches
wrong PINs per kiosk in a sliding window (hub/worker/kiosk_window.py):

- A kiosk is *suspect* once its wrong PINs in the last `window` span `suspect_cards`
  distinct cards: the guard says so once per window (`record_failure` returns why), and
  the caller flags the kiosk PIN_GUESSING (hub/ledger/kiosk_flags.py, shown in `hub status`).
  Its wrong PINs still count toward each card's lockout.
- A kiosk is *paused* once its wrong PINs in the window reach `max_failures` across at
  least `suspect_cards` cards, or once its wrong PINs have locked `lockout_cards` cards
  (`lockouts_caused`, counted from the ledger so every worker agrees): for `pause`,
  twice as long with each further pause (capped at `max_pause`), every pin_check from it
  is answered `ok=false, error="pin_checks_paused"` without touching the ledger.
- A reader mistyping their own PIN is one card, never suspect, and is locked out as the
  scheme says.

What a caller may rely on: the guard knows card hashes only and logs the kiosk id,
never a card; the window is per worker (hub/worker/kiosk_window.py says what that means).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from hub.worker.kiosk_window import KioskWindows

log = logging.getLogger(__name__)

PIN_CHECKS_PAUSED = "pin_checks_paused"


class PinGuessGuard:
    """The per-kiosk window of wrong PINs (module doc)."""

    def __init__(
        self,
        max_failures: int = 10,
        suspect_cards: int = 3,
        window: timedelta = timedelta(minutes=10),
        pause: timedelta = timedelta(minutes=5),
        max_pause: timedelta = timedelta(hours=24),
        lockout_cards: int = 2,
    ) -> None:
        self.max_failures = max_failures
        self.suspect_cards = suspect_cards
        self.lockout_cards = lockout_cards
        self._windows = KioskWindows(window, pause, max_pause)

    @property
    def window(self) -> timedelta:
        return self._windows.window

    def paused_until(self, kiosk_id: str, now: datetime) -> datetime | None:
        """When `kiosk_id`'s pin checks are answered again, while they are paused."""
        return self._windows.paused_until(kiosk_id, now)

    def suspect(self, kiosk_id: str, now: datetime) -> bool:
        """Whether `kiosk_id`'s recent wrong PINs span enough cards to flag it, or it is paused."""
        state = self._windows.of(kiosk_id, now)
        return len(state.cards()) >= self.suspect_cards or self.paused_until(kiosk_id, now) is not None

    def record_failure(self, kiosk_id: str, card_hash: str, now: datetime) -> str | None:
        """Note one wrong PIN (or a PIN for an unknown card) at `kiosk_id`, pausing the
        kiosk when it crosses the limit. Why the kiosk should be flagged, when it just
        became suspect or was paused (words for staff, no card); else None."""
        state = self._windows.note(kiosk_id, card_hash, now)
        cards = len(state.cards())
        failures = len(state.events)
        if failures >= self.max_failures and cards >= self.suspect_cards:
            until = self._windows.pause_kiosk(kiosk_id, now)
            state.flagged = True
            log.warning(
                "kiosk %s: PIN checks paused until %s: %d wrong PINs on %d cards within %s",
                kiosk_id, until.isoformat(timespec="seconds"), failures, cards, self.window,
            )  # fmt: skip
            return (
                f"PIN checks paused until {until.isoformat(timespec='seconds')}: "
                f"{failures} wrong PINs on {cards} cards within {self.window}"
            )
        if cards >= self.suspect_cards and not state.flagged:
            state.flagged = True
            return f"wrong PINs on {cards} different cards within {self.window}"
        return None

    def lockouts_caused(self, kiosk_id: str, locked_cards: int, now: datetime) -> str | None:
        """`kiosk_id`'s wrong PINs just locked a card, and `locked_cards` cards are locked
        by it now (hub/ledger/pins.py `cards_locked_by`). From `lockout_cards` on, the kiosk is
        paused (one locked reader is a reader; two are a kiosk locking people out); why
        it should be flagged then, else None."""
        if locked_cards < self.lockout_cards:
            return None
        until = self._windows.pause_kiosk(kiosk_id, now)
        log.warning(
            "kiosk %s: PIN checks paused until %s: its wrong PINs locked %d cards",
            kiosk_id, until.isoformat(timespec="seconds"), locked_cards,
        )  # fmt: skip
        return f"its wrong PINs locked {locked_cards} cards; PIN checks paused until {until.isoformat(timespec='seconds')}"
