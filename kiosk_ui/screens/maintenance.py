"""Maintenance: a technician is working on the kiosk. Readers are told to wait or use
the desk; the technician is told how to end it (staff card, PIN, "Maintenance off").
Not a fault: no fault code is shown."""

from __future__ import annotations

from kivy.factory import Factory

from ..widgets import PALETTE, KioskLabel
from .base import KioskScreen


class MaintenanceScreen(KioskScreen):
    screen_name = "maintenance"

    def build_ui(self) -> None:
        self.title, _ = self.header("maint.title")
        self.title.color = PALETTE.warn
        self.body.add_widget(KioskLabel(msg_key="maint.body", base_size=32, bold_text=True))
        self.body.add_widget(Factory.Widget())
        self.way_out = KioskLabel(msg_key="maint.way_out", base_size=20, color=PALETTE.muted_ink)
        self.body.add_widget(self.way_out)
