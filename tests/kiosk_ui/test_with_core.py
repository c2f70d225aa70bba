"""The touchscreen driven by the real kiosk core: device events go into the core, its
rendered views onto a real Kivy window, and touches on that window back into the core.
Only the hub's answers are written by the test (the hub has its own end-to-end tests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from contract.messages import Bilingual
from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, BookPassed, CardPresented
from firmware.core.config import CoreConfig
from hal_sim.cards import library_card
from kiosk_tools.core_harness import CoreHarness

pytestmark = pytest.mark.ui

READER = "0110000012341"
BEIJING = timezone(timedelta(hours=8))


def card_data(number: str) -> bytes:
    card = library_card(number)
    return b"".join(card.block(block) for block in (8, 9, 10))


def relay(ui: Any, core: CoreHarness) -> None:
    """Feed what the reader touched into the core and show what it renders."""
    while ui.posted:
        core.feed(ui.posted.pop(0))
    ui.show(core.view)


def test_a_reader_borrows_a_book_through_the_touchscreen(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(READER)))
    core.answer(scheme="bj-joint", state="valid", masked_name="王*明", pin_required=True,
                loans=[], items_left=10)
    ui.show(core.view)
    assert ui.screen.name == "pin"

    for digit in "123456":
        ui.tap(ui.button(action=f"pin:{digit}"))
    ui.tap(ui.button(action="pin:ok"))
    assert ui.posted == [PinEntered("123456")]
    relay(ui, core)
    core.answer(pin_ok=True, attempts_left=5)
    ui.show(core.view)
    assert ui.screen.name == "borrow"
    assert any("王*明" in text for text in ui.texts())

    due = datetime(2027, 1, 10, 23, 59, tzinfo=BEIJING)
    core.feed(BarcodeRead("30002000000018", "desk"))
    core.answer(allowed=True, title="平凡的世界 / 路遥 著", due=due)
    ui.show(core.view)
    shown = "\n".join(ui.texts())
    assert "平凡的世界" in shown and "2027" in shown
    ui.screenshot("core_borrow_zh")

    ui.tap(ui.button(action="lang"))
    relay(ui, core)
    assert core.view.language == "en"
    ui.tap(ui.button(action="finish"))
    relay(ui, core)
    assert ui.screen.name == "summary"
    ui.screenshot("core_summary_en")
    assert [r.kind for r in core.records()] == ["loan"]


def test_a_refusal_from_the_hub_is_shown_in_the_readers_words(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="dongcheng"))
    core.feed(CardPresented(uid=b"\x05\x06\x07\x08", data=card_data("20001000000012")))
    core.answer(scheme="nlc", state="valid", masked_name="李*", pin_required=False, loans=[],
                items_left=3)
    core.feed(BarcodeRead("30101000000018", "desk"))
    message = Bilingual(zh="您的读者卡在本馆不能借书，可以还书。", en="Your card cannot borrow here.")
    core.answer(allowed=False, reason_code="scheme_not_accepted", message=message,
                title="活着 / 余华 著")
    ui.show(core.view)
    shown = "\n".join(ui.texts())
    assert "您的读者卡在本馆不能借书" in shown
    assert "《活着》 余华 著" in shown  # which book, not only why
    ui.screenshot("core_refusal_zh")


def test_the_summary_names_a_refused_book_with_its_reason_and_the_library_by_its_name(ui: Any) -> None:
    """Three books on the desk, one refused: the summary (and its receipt) says which and
    why, in both languages, and names the library, not its id."""
    core = CoreHarness(CoreConfig(library_id="capital", kiosk_id="k7"))
    core.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(READER)))
    core.answer(scheme="bj-joint", state="valid", masked_name="王*明", pin_required=False,
                loans=[], items_left=10)
    due = datetime(2027, 1, 10, 23, 59, tzinfo=BEIJING)
    core.feed(BarcodeRead("30002000000018", "desk"))
    core.answer(allowed=True, title="平凡的世界 / 路遥 著", due=due)
    core.feed(BarcodeRead("30102000000016", "desk"))
    held = Bilingual(zh="这本书已经为别的读者预约保留，现在不能借。",
                     en="This book is being kept for another reader who reserved it.")
    core.answer(allowed=False, reason_code="item_on_hold", message=held, title="围城 / 钱锺书 著")
    core.feed(BarcodeRead("30002000000026", "desk"))
    core.answer(allowed=True, title="活着 / 余华 著", due=due)
    ui.show(core.view)
    ui.tap(ui.button(action="finish"))
    relay(ui, core)
    assert ui.screen.name == "summary"
    zh = "\n".join(ui.texts())
    assert "30102000000016 围城 / 钱锺书 著: 未办理 — 这本书已经为别的读者预约保留，现在不能借。" in zh
    assert "馆: 首都图书馆" in zh and "capital" not in zh
    ui.screenshot("core_summary_refused_zh")
    marked = ui.screen.lines.text  # the refused line stands out: bold, in the refusal colour
    assert "[b][color=a0001c]30102000000016 围城" in marked and marked.count("[b]") == 1
    ui.tap(ui.button(action="lang"))
    relay(ui, core)
    en = "\n".join(ui.texts())
    assert "30102000000016 围城 / 钱锺书 著: not done — This book is being kept for another reader" in en
    assert "Library: Capital Library of China" in en and "capital " not in en
    ui.screenshot("core_summary_refused_en")


def test_a_dropped_book_shows_where_it_goes(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(BarcodeRead("30102000000016", "chute"))
    core.answer(allowed=True, route="transfer", route_library="xicheng", title="围城 / 钱锺书 著",
                route_library_name=Bilingual(zh="西城区图书馆", en="Xicheng District Library"))
    core.feed(BookPassed(at=core.now, transit_ms=40.0))
    ui.show(core.view)
    assert ui.screen.name == "returns"
    shown = "\n".join(ui.texts())
    assert "围城" in shown and "西城区图书馆" in shown
    assert [r.route for r in core.records("return")] == ["transfer"]
    ui.tap(ui.button(action="lang"))
    relay(ui, core)
    assert "Xicheng District Library" in "\n".join(ui.texts())
    ui.screenshot("core_returns_en")
    assert Press("lang") not in ui.posted
