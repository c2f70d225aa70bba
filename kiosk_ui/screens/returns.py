"""The returns list: each book dropped in the chute and where it goes next."""

from __future__ import annotations

from kivy.factory import Factory

from firmware.view import KioskView

from ..widgets import KioskLabel
from .base import KioskScreen


class ReturnsScreen(KioskScreen):
    screen_name = "returns"

    def build_ui(self) -> None:
        self.header("returns.title", "returns.prompt")
        self.empty = KioskLabel(msg_key="returns.empty", base_size=24)
        self.body.add_widget(self.empty)
        self.scroll, self.grid = self.item_list()
        row = Factory.ButtonRow()
        row.add_widget(self.button("button.help", "help"))
        row.add_widget(self.button("button.finish", "finish", primary=True))
        self.body.add_widget(row)

    def update(self, view: KioskView) -> None:
        # The "nothing yet" line takes space only while the list is empty.
        if view.items and self.empty.parent is not None:
            self.body.remove_widget(self.empty)
        elif not view.items and self.empty.parent is None:
            self.body.add_widget(self.empty, index=len(self.body.children) - 1)
        self.fill_items(self.scroll, self.grid, view)
