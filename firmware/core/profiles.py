"""What a firmware profile ([kiosk] profile) changes in the core, decided in one place.

A book drop (`"book_drop"`) has a chute, a light and a buzzer, and no screen: nobody can
read a PIN prompt or a borrow list there, so every borrowing event (a card tap, a PIN, a
desk scan or a stack on the pad, a touch other than the language button) is ignored,
logged as `book_drop.borrowing_ignored` with one `Beep("error")`, so the person at the
drop hears that the card did nothing. The view's notice becomes
`notice.book_drop_returns_only` ("returns only here"): shown nowhere, it is what the
voice feature speaks, as it speaks every notice. Chute events go on to the very same
return flow as at a kiosk: the same journal rows, the same hub requests, the same routes.

A van (`"van"`) and a kiosk differ in the offline limit only (`firmware.core.policy`).
"""

from __future__ import annotations

from contract.screens import PinEntered, Press
from drivers.events import (
    BarcodeRead,
    BarcodeRejected,
    BooksPresented,
    CardPresented,
    MultipleCards,
)
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep, Log
from firmware.core.state import State, with_notice

# Touches that still mean something without a screen: none lends or opens a session.
_HARMLESS_PRESSES = frozenset({"lang"})


def is_borrowing_event(event: object) -> bool:
    """Whether `event` would start or feed a lending session (never a chute event)."""
    if isinstance(event, CardPresented | MultipleCards | PinEntered):
        return True
    if isinstance(event, BarcodeRead | BarcodeRejected | BooksPresented):
        return event.source == "desk"
    if isinstance(event, Press):
        return event.action not in _HARMLESS_PRESSES
    return False


def refused_here(state: State, event: object, config: CoreConfig) -> Step | None:
    """The core's answer to an event this profile does not take, or None to go on."""
    if config.profile != "book_drop" or not is_borrowing_event(event):
        return None
    fields = {"type": type(event).__name__}
    # A card left on the reader posts one CardPresented; beep once for it, not per poll.
    # The notice is shown nowhere (no screen) but is the view's record of the refusal:
    # the voice feature speaks it, as it speaks every notice.
    state = with_notice(state, "notice.book_drop_returns_only")
    return state, (Log("info", "book_drop.borrowing_ignored", fields), Beep("error"))
