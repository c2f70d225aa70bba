"""Screen names and touch intents: what the core and the UI (and scenario scripts) agree
on. The core renders one of `SCREENS`; a touch becomes `Press(action)` with an action of
`ACTIONS`, the PIN pad's OK becomes `PinEntered(digits)`."""

from __future__ import annotations

from dataclasses import dataclass

SCREENS = (
    "attract",
    "pin",
    "borrow",
    "returns",
    "summary",
    "help",
    "out_of_service",
    "technician",
    "maintenance",  # a technician is at work: readers wait, a staff card + PIN ends it
)

ACTIONS = (
    "borrow",
    "return",
    "finish",
    "renew",
    "help",
    "lang",
    "large_text",  # the reader switches large, high-contrast text on or off
    "cancel",
    "repeat",  # say the last spoken prompt again (any screen)
    # technician screen
    "selftest",
    "maintenance_on",
    "maintenance_off",
    "voice_toggle",  # spoken prompts on / off
    "voice_louder",
    "voice_quieter",
)


@dataclass(frozen=True)
class Press:
    """A touch on a button: one of ACTIONS."""

    action: str


@dataclass(frozen=True)
class PinEntered:
    """The PIN pad's OK: the digits typed."""

    digits: str
