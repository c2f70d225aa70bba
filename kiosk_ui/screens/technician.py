"""The technician screen: each device's state, fault code, hint and live values, the
journal backlog, the hub link and the voice, with self-test, maintenance and voice
(on/off, quieter, louder) buttons."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from firmware.view import DeviceLine, KioskView, TechnicianView

from ..tech_words import detail_text, device_name, fault_hint, recent_faults_text
from ..widgets import PALETTE, Badge, Card, KioskLabel
from .base import KioskScreen


class TechnicianScreen(KioskScreen):
    screen_name = "technician"

    def build_ui(self) -> None:
        self.title, self.status = self.header("tech.title")
        self.status.base_size = 20
        scroll = ScrollView(do_scroll_x=False, bar_width=10)
        self.table = GridLayout(cols=1, size_hint_y=None, spacing=4)
        self.table.bind(minimum_height=self.table.setter("height"))
        scroll.add_widget(self.table)
        self.body.add_widget(scroll)
        self.faults = KioskLabel(base_size=18)
        self.body.add_widget(self.faults)
        row = Factory.ButtonRow()
        self.selftest = self.button("button.selftest", "selftest", primary=True)
        self.maintenance = self.button("button.maintenance_on", "maintenance_on")
        self.exit = self.button("button.exit", "cancel")
        for btn in (self.selftest, self.maintenance, self.exit):
            row.add_widget(btn)
        voice_row = Factory.ButtonRow()
        self.voice_toggle = self.button("button.voice_toggle", "voice_toggle")
        self.voice_quieter = self.button("button.voice_quieter", "voice_quieter")
        self.voice_louder = self.button("button.voice_louder", "voice_louder")
        for btn in (self.voice_toggle, self.voice_quieter, self.voice_louder):
            voice_row.add_widget(btn)
        self.body.add_widget(voice_row)
        self.body.add_widget(row)

    def device_row(self, line: DeviceLine, view: KioskView) -> Card:
        row = Card(size_hint_y=None, padding=8, spacing=10)
        badge = Badge(
            text=self.text(view, "tech.ok" if line.ok else "tech.fault"),
            bg=PALETTE.good if line.ok else PALETTE.bad,
        )
        row.add_widget(badge)
        texts = BoxLayout(orientation="vertical", size_hint_y=None)
        cat, lang = self.ctx.catalogue, view.language
        name = device_name(line, lang, cat)
        # The badge says ok or fault; a fault's code follows the name (the codes are
        # what docs/fault-codes.md and the hub's fleet view list).
        head_text = name if line.ok else f"{name} · {self.text(view, 'tech.code_label', code=line.code)}"
        head = KioskLabel(text=head_text, base_size=20, bold_text=True)
        texts.add_widget(head)
        for extra in (fault_hint(line, lang, cat), detail_text(line.detail, lang, cat)):
            if extra:
                texts.add_widget(KioskLabel(text=extra, base_size=16, color=PALETTE.muted_ink))
        texts.bind(minimum_height=texts.setter("height"))
        row.add_widget(texts)

        def fit(*_: object) -> None:
            row.height = max(badge.height, texts.height) + 16

        texts.bind(height=fit)
        badge.bind(height=fit)
        fit()
        return row

    def update(self, view: KioskView) -> None:
        tech = view.technician or TechnicianView()
        parts = [
            self.text(view, "tech.hub", state=self.text(view, f"hub_link.{tech.hub_link}")),
            self.text(view, "tech.journal", n=tech.journal_pending),
        ]
        if tech.journal_oldest_pending_s is not None:
            parts.append(self.text(view, "tech.journal_oldest", s=int(tech.journal_oldest_pending_s)))
        onoff = self.text(view, "tech.on" if tech.maintenance else "tech.off")
        parts.append(self.text(view, "tech.maintenance", state=onoff))
        voice_state = self.text(view, "tech.on" if tech.voice_enabled else "tech.off")
        parts.append(self.text(view, "tech.voice", state=voice_state, volume=tech.voice_volume))
        if tech.selftest_running:
            parts.append(self.text(view, "tech.selftest_running"))
        self.status.text = " · ".join(parts)
        faults = recent_faults_text(tech.recent_faults, view.language, self.ctx.catalogue)
        faults = faults or self.text(view, "tech.no_faults")
        self.faults.text = self.text(view, "tech.recent_faults", faults=faults)
        self.table.clear_widgets()
        for line in tech.devices:
            self.table.add_widget(self.device_row(line, view))
        key = "maintenance_off" if tech.maintenance else "maintenance_on"
        self.maintenance.action = key
        self.maintenance.msg_key = f"button.{key}"
        self.maintenance.text = self.text(view, f"button.{key}")
        self.selftest.disabled = tech.selftest_running
        self.voice_quieter.disabled = tech.voice_volume <= 0
        self.voice_louder.disabled = tech.voice_volume >= 100
