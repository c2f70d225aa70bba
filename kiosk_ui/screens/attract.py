"""The idle screen: tap a card to begin, or just drop books in the chute."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.floatlayout import FloatLayout

from firmware.view import KioskView

from ..widgets import BouncingHint, KioskLabel
from .base import KioskScreen


class AttractScreen(KioskScreen):
    screen_name = "attract"

    def build_ui(self) -> None:
        self.title, self.subtitle = self.header("attract.title", "attract.subtitle", subtitle_below=True)
        self.title.base_size = 44
        self.subtitle.base_size = 24
        # The hint bounces within its own box so the animation never moves the layout.
        stage = FloatLayout()
        self.hint = BouncingHint(msg_key="attract.hint", size_hint_x=0.9)
        self.arrow = KioskLabel(text="↓", base_size=48, halign="center", size_hint_x=0.2)
        self.arrow.color = self.hint.color

        def place(*_: object) -> None:
            # The arrow is decoration: where a notice and large text leave no room for
            # it under the hint, it goes rather than cover the buttons below.
            self.arrow.opacity = 1 if stage.height >= self.hint.height + self.arrow.height else 0
            travel = max(0.0, stage.height - self.hint.height - self.arrow.height) * 0.5
            top = stage.top - travel * self.hint.offset
            self.hint.center_x = stage.center_x
            self.hint.top = top
            self.arrow.center_x = stage.center_x
            self.arrow.top = self.hint.y

        for widget in (stage, self.hint, self.arrow):
            widget.bind(pos=place, size=place)
        self.hint.bind(offset=place)
        stage.add_widget(self.hint)
        stage.add_widget(self.arrow)
        self.body.add_widget(stage)
        row = Factory.ButtonRow()
        row.height = row.height  # kv sets it; kept for clarity of the order below
        for key, action, primary in (
            ("button.borrow", "borrow", True),
            ("button.return", "return", True),
            ("button.help", "help", False),
        ):
            btn = self.button(key, action, primary)
            btn.base_size = 32 if primary else 26
            btn.size_hint_x = 1.0 if primary else 0.6
            row.add_widget(btn)
        self.body.add_widget(row)

    def on_enter(self, *args: object) -> None:
        self.hint.start()

    def on_leave(self, *args: object) -> None:
        self.hint.stop()

    def update(self, view: KioskView) -> None:
        """Nothing variable here: the words come from the catalogue."""
