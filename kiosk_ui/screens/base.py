"""What every screen shares: the catalogue, the way to post a Press, a header with the
language button, and helpers for big buttons and book lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from firmware.view import ItemLine, KioskView

from ..i18n import Catalogue
from ..present import book_title, item_detail, status_key
from ..theme import LARGE_TEXT_SCREENS
from ..widgets import ROUTE_COLOURS, STATUS_COLOURS, Heading, ItemRow, KioskButton, KioskLabel

# Screens a reader uses (not the technician's): they carry the large "repeat" button.
REPEAT_SCREENS = ("attract", "borrow", "returns", "summary", "help", "out_of_service", "maintenance")


@dataclass(frozen=True)
class UiContext:
    """What a screen may use: words, and one way to say "the reader pressed X"."""

    catalogue: Catalogue
    press: Callable[[str], None]
    post: Callable[[object], None]


class KioskScreen(Screen):
    """Base screen: `build_ui` once, `update(view)` on every new view."""

    screen_name = ""

    def __init__(self, ctx: UiContext, **kwargs: object) -> None:
        super().__init__(name=self.screen_name, **kwargs)
        self.ctx = ctx
        self.body: BoxLayout = Factory.Body()
        self.add_widget(self.body)
        self.header_row: BoxLayout | None = None
        self.large_text_button: KioskButton | None = None
        self.build_ui()
        if self.screen_name in LARGE_TEXT_SCREENS and self.header_row is not None:
            self.add_large_text_button(self.header_row)

    def build_ui(self) -> None:
        """Create the widgets; texts with a msg_key are filled by the app."""

    def update(self, view: KioskView) -> None:
        """Show the parts of `view` this screen is about."""

    def text(self, view: KioskView, key: str, **args: object) -> str:
        return self.ctx.catalogue.text(view.language, key, **args)

    def button(self, key: str, action: str, primary: bool = False) -> KioskButton:
        btn = KioskButton(msg_key=key, action=action, primary=primary)
        btn.handler = self.ctx.press
        return btn

    def header(
        self, title_key: str = "", subtitle_key: str = "", subtitle_below: bool = False
    ) -> tuple[Heading, KioskLabel]:
        """Title (and subtitle) on the left, the 中文/English button on the right.

        `subtitle_below`: the subtitle runs the full width under the header row instead
        of beside the buttons, for a long subtitle under a large title (the attract
        screen's, which the three buttons squeezed into four lines at 800x480)."""
        row = Factory.Header()
        self.header_row = row
        titles = BoxLayout(orientation="vertical", size_hint_y=None)
        heading = Heading(msg_key=title_key)
        subtitle = KioskLabel(msg_key=subtitle_key, base_size=22)
        titles.add_widget(heading)
        if not subtitle_below:
            titles.add_widget(subtitle)
        titles.bind(minimum_height=titles.setter("height"))
        anchor = Factory.AnchorLayout(anchor_y="center")
        anchor.add_widget(titles)
        row.add_widget(anchor)
        # Readers' screens offer "say it again" (the spoken prompt) beside the language.
        keys = (("button.repeat", "repeat"),) if self.screen_name in REPEAT_SCREENS else ()
        buttons = [self.button(key, action) for key, action in (*keys, ("button.lang", "lang"))]
        self.repeat_button = buttons[0] if keys else None
        for btn, wide in zip(buttons, (1.4,) * len(keys) + (1.8,), strict=True):
            btn.size_hint_x = None
            btn.scales = False  # fixed-size controls: large text is for what a reader reads
            btn.bind(height=lambda w, h, wide=wide: setattr(w, "width", h * wide))
            btn.width = btn.height * wide
            row.add_widget(btn)

        def fit(*_: object) -> None:
            row.height = max(buttons[-1].height, titles.height)

        titles.bind(height=fit)
        buttons[-1].bind(height=fit)
        fit()
        self.body.add_widget(row)
        if subtitle_below:
            self.body.add_widget(subtitle)
        return heading, subtitle

    def add_large_text_button(self, row: BoxLayout) -> None:
        """The reader's "大字 / Large text" switch, between the title and the header's
        other buttons (the app words it: on, it offers normal text back)."""
        switch = self.button("button.large_text", "large_text")
        switch.size_hint_x = None
        switch.scales = False
        switch.bind(height=lambda w, h: setattr(w, "width", h * 1.25))
        switch.width = switch.height * 1.25
        row.add_widget(switch, index=len(row.children) - 1)  # right of the titles
        self.large_text_button = switch

    def item_list(self) -> tuple[ScrollView, Widget]:
        scroll = ScrollView(do_scroll_x=False, bar_width=10, scroll_type=["bars", "content"])
        grid = Factory.ItemList()

        def fill_height(*_: object) -> None:
            # A short list sits at the top of its box, a long one scrolls.
            grid.height = max(grid.minimum_height, scroll.height)

        grid.bind(minimum_height=fill_height)
        scroll.bind(height=fill_height)
        scroll.add_widget(grid)
        self.body.add_widget(scroll)
        return scroll, grid

    def fill_items(self, scroll: ScrollView, grid: Widget, view: KioskView) -> None:
        """Rebuild the rows (lists are short); keep the newest row in sight."""
        grid.clear_widgets()
        for item in view.items:
            grid.add_widget(self.item_row(item, view))
        scroll.scroll_y = 0

    def item_row(self, item: ItemLine, view: KioskView) -> ItemRow:
        cat = self.ctx.catalogue
        colour = STATUS_COLOURS.get(item.status, STATUS_COLOURS["checking"])
        if item.status == "returned" and item.route in ROUTE_COLOURS:
            colour = ROUTE_COLOURS[item.route]
        return ItemRow(
            # A book the hub never named (refused before it was looked up) shows its barcode.
            title=book_title(item.title, view.language) or item.barcode,
            detail=item_detail(item, view.language, cat),
            badge_text=cat.text(view.language, status_key(item)),
            badge_colour=colour,
            barcode=item.barcode,
        )
