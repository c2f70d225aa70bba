"""Kiosk widgets: big, high-contrast, wrapping. Styling lives in kiosk.kv.

Every widget with a `msg_key` gets its text from the catalogue whenever the view
changes (see `KioskApp.apply_view`), so switching language is one tree walk.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.animation import Animation
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

Colour = tuple[float, float, float, float]


def rgb(hex_colour: str, alpha: float = 1.0) -> Colour:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


class Palette:
    """High contrast: near-black on warm white, white on dark blue; status colours are
    dark enough for white text (WCAG AA at the sizes used)."""

    background: Colour = rgb("#F7F5EF")
    ink: Colour = rgb("#161616")
    muted_ink: Colour = rgb("#3A3A3A")
    primary: Colour = rgb("#0B3D91")
    primary_ink: Colour = rgb("#FFFFFF")
    secondary: Colour = rgb("#DCE3EE")
    secondary_ink: Colour = rgb("#0B2545")
    card: Colour = rgb("#FFFFFF")
    good: Colour = rgb("#1B6B35")
    bad: Colour = rgb("#A0001C")
    busy: Colour = rgb("#4A5566")
    warn: Colour = rgb("#7A4B00")
    hold: Colour = rgb("#5B2A86")
    transfer: Colour = rgb("#0B3D91")
    banner: Colour = rgb("#FFD23F")
    notice: Colour = rgb("#FFF1B8")


PALETTE = Palette()

STATUS_COLOURS: dict[str, Colour] = {
    "checking": PALETTE.busy,
    "loaned": PALETTE.good,
    "renewed": PALETTE.good,
    "returned": PALETTE.good,
    "offline_loaned": PALETTE.warn,
    "refused": PALETTE.bad,
}
ROUTE_COLOURS: dict[str, Colour] = {
    "shelve": PALETTE.good,
    "transfer": PALETTE.transfer,
    "hold": PALETTE.hold,
}
STATUS_MARKS: dict[str, str] = {"refused": "✘", "checking": "…"}


class KioskLabel(Label):
    """Wraps to its width and grows to its text's height: never cut off sideways."""

    msg_key = StringProperty("")
    base_size = NumericProperty(22)
    bold_text = BooleanProperty(False)
    scales = BooleanProperty(True)  # False: keeps its size in large text (headings are large already)


class Heading(KioskLabel):
    pass


class KioskButton(Button):
    """A big touch target (>= 15 mm) that posts `Press(action)` through `handler`."""

    msg_key = StringProperty("")
    action = StringProperty("")
    primary = BooleanProperty(False)
    base_size = NumericProperty(26)
    scales = BooleanProperty(True)  # False: a fixed-size control (the header's) keeps its font in large text
    handler: Callable[[str], None] | None = None

    def on_release(self) -> None:
        if self.action and self.handler is not None:
            self.handler(self.action)


class Badge(Label):
    """A coloured status pill with white text: colour and word, never colour alone."""

    msg_key = StringProperty("")
    bg = ColorProperty(PALETTE.busy)


class Band(KioskLabel):
    """A full-width coloured strip for the offline banner, notices and the countdown."""

    bg = ColorProperty(PALETTE.banner)
    shown = BooleanProperty(False)


class Card(BoxLayout):
    """A white rounded panel behind a list row or a receipt."""

    bg = ColorProperty(PALETTE.card)


class ItemRow(Card):
    """One book: status badge, title, and what happens to it (due date / reason / route)."""

    title = StringProperty("")
    detail = StringProperty("")
    badge_text = StringProperty("")
    badge_colour = ColorProperty(PALETTE.busy)
    barcode = StringProperty("")


class BouncingHint(KioskLabel):
    """The attract screen's moving hint: a gentle up-down bounce that catches the eye."""

    offset = NumericProperty(0.0)
    animation = ObjectProperty(None, allownone=True)

    def start(self) -> None:
        if self.animation is None:
            self.animation = Animation(offset=1.0, d=0.7, t="in_out_sine") + Animation(
                offset=0.0, d=0.7, t="in_out_sine"
            )
            self.animation.repeat = True
            self.animation.start(self)

    def stop(self) -> None:
        if self.animation is not None:
            self.animation.cancel(self)
            self.animation = None
            self.offset = 0.0
