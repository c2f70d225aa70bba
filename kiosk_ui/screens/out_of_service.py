"""Out of service: plain words for readers, the fault code small for technicians."""

from __future__ import annotations

from kivy.factory import Factory

from firmware.view import KioskView

from ..widgets import PALETTE, KioskLabel
from .base import KioskScreen


class OutOfServiceScreen(KioskScreen):
    screen_name = "out_of_service"

    def build_ui(self) -> None:
        self.title, _ = self.header("oos.title")
        self.title.color = PALETTE.bad
        self.body.add_widget(KioskLabel(msg_key="oos.body", base_size=32, bold_text=True))
        self.body.add_widget(Factory.Widget())
        self.code = KioskLabel(base_size=20, color=PALETTE.muted_ink, halign="right")
        self.body.add_widget(self.code)

    def update(self, view: KioskView) -> None:
        code = view.out_of_service_code
        self.code.text = self.text(view, "oos.code", code=code) if code else ""
