"""The PIN pad. Digits stay in this widget until OK; the screen only ever shows dots.

The core sees the PIN once, as `PinEntered(digits)`, so a half-typed PIN never travels
through the event queue or the logs.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from contract.screens import PinEntered
from firmware.view import KioskView

from ..widgets import Heading, KioskButton, KioskLabel
from .base import KioskScreen

MAX_PIN_DIGITS = 12  # longer than any scheme's PIN; stops a stuck finger filling memory
PAD_LAYOUT = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "delete", "0", "ok")


class PinScreen(KioskScreen):
    screen_name = "pin"

    def build_ui(self) -> None:
        self.digits = ""
        self.language = "zh"
        self.body.orientation = "horizontal"
        left = BoxLayout(orientation="vertical", size_hint_x=0.44)
        left.spacing = self.body.spacing
        self.title = Heading(msg_key="pin.title")
        # The dots are placeholders, not words, and larger than the heading already:
        # like the heading they keep their size in large text.
        self.dots = KioskLabel(base_size=44, halign="center", scales=False)
        self.attempts = KioskLabel(base_size=22)
        self.privacy = KioskLabel(msg_key="pin.privacy", base_size=20)
        left.add_widget(self.reading_column((self.title, self.dots, self.attempts, self.privacy)))
        lang = self.button("button.lang", "lang")
        cancel = self.button("button.cancel", "cancel")
        cancel.handler = self.cancel
        # "Say again" beside the language: the typed digits stay (repeat changes nothing).
        self.repeat_button = self.button("button.repeat", "repeat")
        for btn in (self.repeat_button, lang):
            btn.scales = False  # the header's controls on other screens: their size in large text
        row = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=self.body.spacing)
        lang.bind(height=row.setter("height"))
        row.height = lang.height
        row.add_widget(self.repeat_button)
        row.add_widget(lang)
        left.add_widget(row)
        left.add_widget(cancel)
        self.body.add_widget(left)

        pad = GridLayout(cols=3, size_hint_x=0.56)
        self.body.bind(spacing=pad.setter("spacing"))
        pad.spacing = self.body.spacing
        self.keys: dict[str, KioskButton] = {}
        for key in PAD_LAYOUT:
            if key == "delete":
                btn = KioskButton(msg_key="button.delete", base_size=26)
                btn.handler = lambda _a: self.delete()
            elif key == "ok":
                btn = KioskButton(msg_key="button.ok", primary=True, base_size=30)
                btn.handler = lambda _a: self.submit()
            else:
                btn = KioskButton(text=key, base_size=40)
                btn.handler = lambda _a, d=key: self.type_digit(d)
            btn.action = f"pin:{key}"
            btn.size_hint_y = 1
            self.keys[key] = btn
            pad.add_widget(btn)
        self.body.add_widget(pad)
        self.show_dots()

    def reading_column(self, lines: tuple[KioskLabel, ...]) -> ScrollView:
        """The title and the lines under it, at the top of the space above the buttons.

        Its lines sit half the body's gap apart (one block), and it scrolls rather than
        overflow: in large English text under a wrong-PIN notice the column was 32 px
        too short and pushed the title under the band."""
        scroll = ScrollView(do_scroll_x=False, bar_width=6)
        box = BoxLayout(orientation="vertical", size_hint_y=None)
        self.body.bind(spacing=lambda _w, gap: setattr(box, "spacing", gap / 2))
        box.spacing = self.body.spacing / 2
        # Shorter than its box, the column sits at the top (ScrollView puts it there).
        box.bind(minimum_height=box.setter("height"))
        for line in lines:
            box.add_widget(line)
        scroll.add_widget(box)
        return scroll

    def type_digit(self, digit: str) -> None:
        if len(self.digits) < MAX_PIN_DIGITS:
            self.digits += digit
        self.show_dots()

    def delete(self) -> None:
        self.digits = self.digits[:-1]
        self.show_dots()

    def submit(self) -> None:
        if not self.digits:
            return
        digits, self.digits = self.digits, ""
        self.show_dots()
        self.ctx.post(PinEntered(digits))

    def cancel(self, action: str = "cancel") -> None:
        self.digits = ""
        self.show_dots()
        self.ctx.press(action)

    def show_dots(self) -> None:
        # Placeholders show how long a PIN may be without revealing anything typed.
        shown = " ".join("●" * len(self.digits))
        self.dots.text = shown if shown else "○ ○ ○ ○"
        self.keys["ok"].disabled = not self.digits

    def on_leave(self, *args: object) -> None:
        self.digits = ""
        self.show_dots()

    def update(self, view: KioskView) -> None:
        self.language = view.language
        if view.pin_attempts_left is not None:
            self.attempts.text = self.text(view, "pin.attempts_left", n=view.pin_attempts_left)
        else:
            self.attempts.text = ""
        for btn in self.keys.values():
            btn.disabled = view.busy or (btn is self.keys["ok"] and not self.digits)
