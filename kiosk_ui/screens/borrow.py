"""The borrow list: who is logged in, each scanned book and what happened to it."""

from __future__ import annotations

from kivy.factory import Factory

from firmware.view import KioskView

from ..present import greeting
from ..widgets import PALETTE, KioskLabel
from .base import KioskScreen


class BorrowScreen(KioskScreen):
    screen_name = "borrow"

    def build_ui(self) -> None:
        self.title, self.counts = self.header()
        self.prompt = KioskLabel(base_size=24, bold_text=True)
        self.body.add_widget(self.prompt)
        self.scroll, self.grid = self.item_list()
        row = Factory.ButtonRow()
        self.renew = self.button("button.renew", "renew")
        self.help = self.button("button.help", "help")
        self.finish = self.button("button.finish", "finish", primary=True)
        for btn in (self.renew, self.help, self.finish):
            row.add_widget(btn)
        self.body.add_widget(row)

    def update(self, view: KioskView) -> None:
        self.title.text = greeting(view, self.ctx.catalogue)
        counts = [self.text(view, "borrow.loans", n=view.reader_loans)]
        if view.items_left is not None:
            counts.append(self.text(view, "borrow.items_left", n=view.items_left))
        self.counts.text = " · ".join(counts)
        if view.busy:
            self.prompt.text = self.text(view, "busy.checking")
            self.prompt.color = PALETTE.busy
        else:
            self.prompt.text = self.text(view, "borrow.prompt")
            self.prompt.color = PALETTE.primary
        self.renew.disabled = view.busy
        self.finish.disabled = view.busy
        self.fill_items(self.scroll, self.grid, view)
