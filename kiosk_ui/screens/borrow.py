"""The borrow list: who is logged in, each scanned book and what happened to it."""

from __future__ import annotations

from kivy.factory import Factory

from firmware.view import KioskView

from ..present import greeting, reader_notes, standing
from ..widgets import PALETTE, KioskLabel
from .base import KioskScreen


class BorrowScreen(KioskScreen):
    screen_name = "borrow"

    def build_ui(self) -> None:
        self.title, self.counts = self.header()
        self.notes = KioskLabel(base_size=20, bold_text=True)  # holds, loans due soon
        self.notes.color = PALETTE.hold
        self.body.add_widget(self.notes)
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
        self.counts.text = " · ".join(standing(view, self.ctx.catalogue))
        self.notes.text = "\n".join(reader_notes(view, self.ctx.catalogue))
        if view.busy:
            self.prompt.text = self.text(view, "busy.checking")
            self.prompt.color = PALETTE.busy
        else:
            key = "borrow.prompt" if view.may_borrow else "borrow.returns_only_prompt"
            self.prompt.text = self.text(view, key)
            self.prompt.color = PALETTE.primary
        self.renew.disabled = view.busy
        self.finish.disabled = view.busy
        self.fill_items(self.scroll, self.grid, view)
