"""Normal or large, high-contrast text: what the reader's "大字 / Large text" switch
(`KioskView.large_text`) changes on screen, in one place.

Large text multiplies every font size by `LARGE_TEXT_SCALE` (the layout's boxes grow
with their text: labels and book rows take their text's height) and turns the warm
white page pure white and the grey detail lines black, for readers with poor sight.
Kept free of Kivy so tests check the choice without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from .widgets import PALETTE, Colour, rgb

LARGE_TEXT_SCALE = 1.3
# The screens a reader reads (not the technician's, nor those a reader only waits at):
# they carry the large-text switch.
LARGE_TEXT_SCREENS = ("attract", "borrow", "returns", "summary", "help")


@dataclass(frozen=True)
class Theme:
    """What the app applies for a view: font scale, page colour, detail-line colour,
    and the words on the switch (it names what a touch will do)."""

    text_scale: float
    background: Colour
    muted_ink: Colour
    switch_key: str


NORMAL = Theme(1.0, PALETTE.background, PALETTE.muted_ink, "button.large_text")
LARGE = Theme(LARGE_TEXT_SCALE, rgb("#FFFFFF"), rgb("#000000"), "button.normal_text")


def theme_for(large_text: bool) -> Theme:
    return LARGE if large_text else NORMAL
