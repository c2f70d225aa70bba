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
        self.scroll = scroll = ScrollView(do_scroll_x=False, bar_width=10)
        # Right padding: the scroll bar never covers the ends of the lines.
        self.lines = KioskLabel(base_size=20, markup=True, padding=(0, 0, 16, 0))
        scroll.add_widget(self.lines)
        card.add_widget(scroll)
        self.lines.bind(anchors=self.bring_refused_in_sight, height=self.bring_refused_in_sight)
        scroll.bind(height=self.bring_refused_in_sight)
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
            self.scroll.scroll_y = 1  # a new receipt starts at its top
            if view.receipt_lines:
                self.qr.texture = receipt_qr_texture(view.receipt_lines)
                self.qr.opacity = 1
            else:
                self.qr.opacity = 0
        self.qr_hint.opacity = 1 if view.receipt_lines else 0

    def bring_refused_in_sight(self, *_: object) -> None:
        """A receipt longer than its box scrolls to its first refused line: the line a
        reader looks for (the book left behind) is never the one below the fold."""
        overflow = self.lines.height - self.scroll.height
        anchor = self.lines.anchors.get(REFUSED_ANCHOR)
        if overflow > 0 and anchor is not None:
            self.scroll.scroll_y = max(0.0, 1 - anchor[1] / overflow)


REFUSED_ANCHOR = "refused"  # markup anchor at the first refused line (kept in sight)


def receipt_markup(view: KioskView) -> str:
    """The receipt's lines, a refused book's line in bold and the refusal colour, so a
    reader finds at a glance the book left behind (the words say it too); the first
    carries REFUSED_ANCHOR."""
    refused = tuple(
        f"{item.barcode}{end}" for item in view.items if item.status == "refused" for end in (" ", ":")
    )
    colour = "".join(f"{round(c * 255):02x}" for c in PALETTE.bad[:3])
    lines = []
    anchor = f"[anchor={REFUSED_ANCHOR}]"
    for line in view.receipt_lines:
        text = escape_markup(line)
        if refused and line.startswith(refused):
            text = f"{anchor}[b][color={colour}]{text}[/color][/b]"
            anchor = ""
        lines.append(text)
    return "\n".join(lines)
