"""A simulator panel for demos, shown beside the kiosk screen with `--sim`: tap a demo
card, scan or drop a demo book, jam the chute, cut the hub. Each button only calls a
`SimControls` method; the simulator behind it (hal_sim) makes the world react.

`SimControls` is importable without Kivy; the panel widget is built only in the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SimControls(Protocol):
    """What the panel can do to the simulated world. Optionally it may also offer
    `demo_cards()` / `demo_books()` returning (label, number-or-barcode) pairs."""

    def tap(self, number: str) -> None: ...
    def remove(self) -> None: ...
    def scan(self, barcode: str) -> None: ...
    def drop(self, barcode: str) -> None: ...
    def jam(self) -> None: ...
    def clear(self) -> None: ...
    def hub_down(self) -> None: ...
    def hub_up(self) -> None: ...


@dataclass(frozen=True)
class DemoThing:
    label: str
    value: str


DEMO_CARDS: tuple[DemoThing, ...] = (
    DemoThing("京通卡 王*明", "0110000012345"),
    DemoThing("国图卡 李*华", "0210000067890"),
    DemoThing("过期卡 Expired", "0110000099999"),
)
DEMO_BOOKS: tuple[DemoThing, ...] = (
    DemoThing("平凡的世界", "30101000000017"),
    DemoThing("活着", "30101000000025"),
    DemoThing("城南旧事 (西城)", "30234000001233"),
)


@dataclass
class RecordingControls:
    """SimControls that only remember the calls: for demos without hal_sim and for tests."""

    calls: list[tuple[str, str]]

    def __init__(self) -> None:
        self.calls = []

    def tap(self, number: str) -> None:
        self.calls.append(("tap", number))

    def remove(self) -> None:
        self.calls.append(("remove", ""))

    def scan(self, barcode: str) -> None:
        self.calls.append(("scan", barcode))

    def drop(self, barcode: str) -> None:
        self.calls.append(("drop", barcode))

    def jam(self) -> None:
        self.calls.append(("jam", ""))

    def clear(self) -> None:
        self.calls.append(("clear", ""))

    def hub_down(self) -> None:
        self.calls.append(("hub_down", ""))

    def hub_up(self) -> None:
        self.calls.append(("hub_up", ""))


def SimPanel(
    controls: SimControls,
    cards: Sequence[DemoThing] = DEMO_CARDS,
    books: Sequence[DemoThing] = DEMO_BOOKS,
    **kwargs: Any,
) -> Any:
    """Build the panel widget (imports Kivy: call only inside the running app)."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView

    # A simulator may offer its own demo catalogue: (label, value) pairs.
    offered_cards = getattr(controls, "demo_cards", None)
    offered_books = getattr(controls, "demo_books", None)
    if callable(offered_cards):
        cards = [DemoThing(str(label), str(value)) for label, value in offered_cards()]
    if callable(offered_books):
        books = [DemoThing(str(label), str(value)) for label, value in offered_books()]
    outer = ScrollView(do_scroll_x=False, **kwargs)
    panel = BoxLayout(orientation="vertical", size_hint_y=None, padding=6, spacing=4)
    panel.bind(minimum_height=panel.setter("height"))

    def heading(text: str) -> None:
        panel.add_widget(Label(text=text, size_hint_y=None, height=32, bold=True))

    def button(text: str, call: Any, name: str) -> None:
        btn = Button(text=text, size_hint_y=None, height=44, halign="center")
        btn.bind(width=lambda w, v: setattr(w, "text_size", (v - 8, None)))
        btn.sim_call = name
        btn.bind(on_release=lambda _b: call())
        panel.add_widget(btn)

    heading("模拟器 Simulator")
    heading("读者卡 Cards")
    for card in cards:
        button(f"刷卡 {card.label}", lambda v=card.value: controls.tap(v), "tap")
    button("取走卡 Remove card", controls.remove, "remove")
    heading("借书扫码 Scan")
    for book in books:
        button(f"扫码 {book.label}", lambda v=book.value: controls.scan(v), "scan")
    heading("还书口 Chute")
    for book in books:
        button(f"投入 {book.label}", lambda v=book.value: controls.drop(v), "drop")
    button("卡书 Jam", controls.jam, "jam")
    button("清除 Clear", controls.clear, "clear")
    heading("中心 Hub")
    button("断开 Hub down", controls.hub_down, "hub_down")
    button("恢复 Hub up", controls.hub_up, "hub_up")
    outer.add_widget(panel)
    return outer
