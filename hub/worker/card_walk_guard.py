"""Walking card numbers: one kiosk asking about many cards, most of which nobody holds.

Whoever walks numbers through `reader_lookup` or `pin_check` learns which cards exist
(and, for a member's own system, which of its patrons do: district numbers are passed on
to it). A reader's kiosk sees a card a minute, nearly all of them real. `CardWalkGuard`
watches the cards one kiosk asks about, in a sliding window (hub/worker/kiosk_window.py):

- `max_unknown` distinct unknown cards (a number no scheme, ledger or member system
  knows), or `max_cards` distinct cards of any kind (more readers than one kiosk can
  serve in the window), pause the kiosk's card checks: for `pause`, twice as long with
  each further pause (capped at `max_pause`), every `reader_lookup` and `pin_check`
  from it is answered `ok=false, error="card_checks_paused"` before the ledger or any
  member's system is asked. Returns need no card and are never paused.
- Each pause is reported once (`note_card` returns why) for the caller to flag the kiosk
  CARD_WALKING (hub/ledger/kiosk_flags.py), which `hub status` shows.

What a caller may rely on: card hashes only, never numbers; the kiosk id alone is
logged; the window is per worker (hub/worker/kiosk_window.py says what that means).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from hub.worker.kiosk_window import KioskWindows

log = logging.getLogger(__name__)

CARD_CHECKS_PAUSED = "card_checks_paused"


class CardWalkGuard:
    """The per-kiosk windows of cards asked about (module doc)."""

    def __init__(
        self,
        max_unknown: int = 10,
        max_cards: int = 60,
        window: timedelta = timedelta(minutes=10),
        pause: timedelta = timedelta(minutes=5),
        max_pause: timedelta = timedelta(hours=24),
    ) -> None:
        self.max_unknown = max_unknown
        self.max_cards = max_cards
        self._unknown = KioskWindows(window, pause, max_pause)
        self._all = KioskWindows(window, pause, max_pause)

    @property
    def window(self) -> timedelta:
        return self._all.window

    def paused_until(self, kiosk_id: str, now: datetime) -> datetime | None:
        """When `kiosk_id`'s card checks are answered again, while they are paused."""
        return self._all.paused_until(kiosk_id, now)

    def note_card(self, kiosk_id: str, card_hash: str, known: bool, now: datetime) -> str | None:
        """Note a card `kiosk_id` asked about (`known`: a reader holds it). Why the kiosk
        should be flagged, when this card paused it (words for staff, no card); else None."""
        cards = len(self._all.note(kiosk_id, card_hash, now).cards())
        unknown = len(self._unknown.note(kiosk_id, card_hash, now).cards()) if not known else 0
        if unknown < self.max_unknown and cards < self.max_cards:
            return None
        self._unknown.of(kiosk_id, now).events.clear()
        until = self._all.pause_kiosk(kiosk_id, now)
        what = f"{unknown} unknown cards" if unknown >= self.max_unknown else f"{cards} different cards"
        log.warning(
            "kiosk %s: card checks paused until %s: %s within %s",
            kiosk_id, until.isoformat(timespec="seconds"), what, self.window,
        )  # fmt: skip
        return f"card checks paused until {until.isoformat(timespec='seconds')}: {what} within {self.window}"
