"""Help: staff are on their way; a reader alone at the kiosk is told to wait here."""

from __future__ import annotations

from kivy.factory import Factory

from ..widgets import KioskLabel
from .base import KioskScreen


class HelpScreen(KioskScreen):
    screen_name = "help"

    def build_ui(self) -> None:
        self.header("help.title")
        self.body.add_widget(KioskLabel(msg_key="help.body", base_size=32, bold_text=True))
        self.body.add_widget(KioskLabel(msg_key="help.desk", base_size=26))
        self.body.add_widget(Factory.Widget())
        row = Factory.ButtonRow()
        row.add_widget(Factory.Widget())
        row.add_widget(self.button("button.cancel", "cancel", primary=True))
        self.body.add_widget(row)
