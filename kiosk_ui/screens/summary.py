"""The end of a visit: the receipt, a QR code of it to keep, and "take your card"."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup

from firmware.view import KioskView

from ..receipt import receipt_qr_texture
from ..widgets import PALETTE, Card, KioskLabel
from .base import KioskScreen


class SummaryScreen(KioskScreen):
    screen_name = "summary"

    def build_ui(self) -> None:
        self.header("summary.title", "summary.take_card")
        middle = BoxLayout(spacing=self.body.spacing)
        card = Card(padding=10)
        scroll = ScrollView(do_scroll_x=False, bar_width=10)
        self.lines = KioskLabel(base_size=20, markup=True)
        scroll.add_widget(self.lines)
        card.add_widget(scroll)
        middle.add_widget(card)
        qr_box = BoxLayout(orientation="vertical", size_hint_x=0.36)
        self.qr = Image(fit_mode="contain")
        self.qr_hint = KioskLabel(msg_key="summary.qr_hint", base_size=20, halign="center")
        qr_box.add_widget(self.qr)
        qr_box.add_widget(self.qr_hint)
        middle.add_widget(qr_box)
        self.body.add_widget(middle)
        self.shown_lines: tuple[str, ...] | None = None
        row = Factory.ButtonRow()
        row.add_widget(self.button("button.help", "help"))
        row.add_widget(self.button("button.finish", "finish", primary=True))
        self.body.add_widget(row)

    def update(self, view: KioskView) -> None:
        self.lines.text = receipt_markup(view)
        if view.receipt_lines != self.shown_lines:
            # Encoding the QR code takes milliseconds: only redo it for a new receipt.
            self.shown_lines = view.receipt_lines
            if view.receipt_lines:
                self.qr.texture = receipt_qr_texture(view.receipt_lines)
                self.qr.opacity = 1
            else:
                self.qr.opacity = 0
        self.qr_hint.opacity = 1 if view.receipt_lines else 0


def receipt_markup(view: KioskView) -> str:
    """The receipt's lines, a refused book's line in bold and the refusal colour, so a
    reader finds at a glance the book left behind (the words say it too)."""
    refused = tuple(
        f"{item.barcode}{end}" for item in view.items if item.status == "refused" for end in (" ", ":")
    )
    colour = "".join(f"{round(c * 255):02x}" for c in PALETTE.bad[:3])
    lines = []
    for line in view.receipt_lines:
        text = escape_markup(line)
        if refused and line.startswith(refused):
            text = f"[b][color={colour}]{text}[/color][/b]"
        lines.append(text)
    return "\n".join(lines)
