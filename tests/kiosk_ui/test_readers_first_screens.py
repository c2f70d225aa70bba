"""The screenshots issue 19 ("Readers first") asks for, at 800x480 in Chinese and English
under a real Kivy window: a refused line that names its book beside a loaned one, the
summary naming it, the greeting's hold notice and a loan due soon, large high-contrast
text on the borrow and attract screens, a National Library book refused at the Capital
Library with the hub's long reason (it must wrap, never be cut), and a van's offline
banner with its pending count. Each also checks the layout: nothing cut off, nothing
outside the window or outside its own box, the header's buttons apart from each other
and from the title. The PNGs go to test-artifacts/screens/issue19_*.png."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from contract.barcodes import make_item_barcode
from contract.messages import Bilingual
from contract.screens import Press
from drivers.events import BarcodeRead, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.events import LinkChanged
from firmware.view import KioskView
from hub.rules.registry import load_registry
from hub.rules.rules import refusal
from kiosk_tools.core_harness import CoreHarness
from kiosk_ui.samples import borrow_items, sample_views
from tests.kiosk_ui.test_screens import layout_problems, overlaps, placement_problems, window_box
from tests.kiosk_ui.test_true_screens import JOINT, card_data
from tests.kiosk_ui.test_with_core import BEIJING

pytestmark = pytest.mark.ui

LANGS = ("zh", "en")


def check_and_keep(ui: Any, view: KioskView, name: str) -> str:
    """Show `view` at 800x480, assert the layout, keep the screenshot; the words shown."""
    ui.resize((800, 480))
    ui.show(view)
    ui.screenshot(f"issue19_{name}")  # kept to look at, the more so when it fails below
    problems = layout_problems(ui) + placement_problems(ui)
    assert not problems, f"{name}:\n" + "\n".join(problems[:20])
    return "\n".join(ui.texts())


def rows_in_sight(ui: Any) -> list[Any]:
    """The book rows wholly inside the list's visible box (not scrolled away)."""
    from kiosk_ui.widgets import ItemRow

    screen = ui.screen
    sight = window_box(screen.scroll)
    return [
        row for row in screen.grid.children
        if isinstance(row, ItemRow)
        and sight[1] - 1 <= window_box(row)[1] and window_box(row)[3] <= sight[3] + 1
    ]


def refused_beside_loaned(language: str) -> KioskView:
    loaned, _, on_hold = borrow_items()[:3]
    return replace(sample_views(language)["borrow"], items=(loaned, on_hold))


@pytest.mark.parametrize("lang", LANGS)
def test_the_refused_line_names_its_book_and_reason_beside_a_loaned_one(ui: Any, lang: str) -> None:
    shown = check_and_keep(ui, refused_beside_loaned(lang), f"borrow_refused_{lang}")
    title, reason, badge = {
        "zh": ("《百年孤独》", "这本书已被其他读者预约", "不能借"),
        "en": ("百年孤独", "Another reader has reserved this book", "Not borrowed"),
    }[lang]
    assert title in shown and reason in shown and badge in shown
    rows = rows_in_sight(ui)
    assert sorted(row.barcode for row in rows) == ["30101000000017", "30234000001233"]


@pytest.mark.parametrize("lang", LANGS)
def test_the_summary_names_the_refused_book(ui: Any, lang: str) -> None:
    shown = check_and_keep(ui, sample_views(lang)["summary"], f"summary_refused_{lang}")
    line = {
        "zh": "30234000001233 百年孤独: 未办理 — 这本书已被其他读者预约",
        "en": "30234000001233 百年孤独: not done — Another reader has reserved this book",
    }[lang]
    assert line in shown


@pytest.mark.parametrize("lang", LANGS)
def test_the_greeting_tells_the_holds_and_the_loan_due_soon(ui: Any, lang: str) -> None:
    shown = check_and_keep(ui, sample_views(lang)["borrow_holds"], f"greeting_holds_{lang}")
    words = {
        "zh": ("预约的书到了：《乡土中国》", "预约的书正在送往东城区第一图书馆：《城记》",
               "快到期了：《活着》 余华 著，请于2025年3月5日前归还"),
        "en": ("Your reserved book is here: 乡土中国", "on its way to Dongcheng District First Library: 城记",
               "Due soon: 活着 / 余华 著, due back 5 March 2025"),
    }[lang]
    for text in words:
        assert text in shown


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("sample", ["borrow", "attract"])
def test_large_text_with_the_repeat_button_in_the_header(ui: Any, lang: str, sample: str) -> None:
    view = sample_views(lang)[sample]
    if sample == "borrow":
        view = refused_beside_loaned(lang)
    check_and_keep(ui, replace(view, large_text=True), f"large_text_{sample}_{lang}")
    header = ui.screen.header_row.children
    for action in ("repeat", "large_text", "lang"):
        assert ui.button(action=action) in header
    assert ui.button(action="large_text").text == {"zh": "标准字", "en": "Normal text"}[lang]


@pytest.mark.parametrize("lang", LANGS)
def test_large_text_on_the_attract_screen_under_a_long_notice(ui: Any, lang: str) -> None:
    """A lost card's notice (two lines in English) leaves no room for the arrow under
    the hint: the arrow goes, it never lies over the Return button."""
    check_and_keep(ui, replace(sample_views(lang)["card_lost"], large_text=True), f"large_text_notice_{lang}")
    assert ui.app.notice_band.shown


NLC_BOOK = make_item_barcode("0001", 7)


def home_lending_suspended() -> Bilingual:
    """The hub's own refusal of a National Library book, with the member's note."""
    nlc = load_registry().member("nlc")
    decision = refusal("home_lending_suspended", nlc.note_zh, nlc.note_en)
    return Bilingual(zh=decision.message_zh, en=decision.message_en)


def capital_session_with_an_nlc_book() -> tuple[CoreHarness, Bilingual]:
    """At the Capital Library a joint-card reader borrows one book; the National
    Library's book is refused in the hub's words (the real rule's text)."""
    core = CoreHarness(CoreConfig(library_id="capital", kiosk_id="k7"))
    core.feed(LinkChanged(True), CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(JOINT)))
    core.answer(scheme="bj-joint", state="valid", masked_name="王*明", pin_required=False,
                loans=[], items_left=10)
    core.feed(BarcodeRead(make_item_barcode("0002", 1), "desk"))
    core.answer(allowed=True, title="平凡的世界 / 路遥 著", due=datetime(2027, 1, 10, 23, 59, tzinfo=BEIJING))
    message = home_lending_suspended()
    core.feed(BarcodeRead(NLC_BOOK, "desk"))
    core.answer(allowed=False, reason_code="home_lending_suspended", message=message,
                title="四世同堂 / 老舍 著")
    return core, message


@pytest.mark.parametrize("lang", LANGS)
def test_a_national_library_book_at_the_capital_library_wraps_its_long_reason(ui: Any, lang: str) -> None:
    from kiosk_ui.widgets import ItemRow

    core, message = capital_session_with_an_nlc_book()
    if lang == "en":
        core.feed(Press("lang"))
    reason = message.zh if lang == "zh" else message.en
    assert "旧馆维修" in message.zh and "renovated" in message.en
    shown = check_and_keep(ui, core.view, f"nlc_refused_at_capital_{lang}")
    assert reason in shown
    row = next(r for r in ui.screen.grid.children if isinstance(r, ItemRow) and r.barcode == NLC_BOOK)
    assert row in rows_in_sight(ui)
    detail = row.ids.detail
    assert detail.text == reason
    # Wrapped onto several lines, every one inside the row: none cut off at either side.
    assert detail.texture_size[1] > 1.8 * detail.font_size
    assert detail.texture_size[0] <= detail.width + 1 and detail.texture_size[1] <= detail.height + 1
    box, inner = window_box(row), window_box(detail)
    assert box[1] - 1 <= inner[1] and inner[3] <= box[3] + 1

    core.feed(Press("finish"))
    shown = check_and_keep(ui, core.view, f"nlc_refused_summary_{lang}")
    not_done = {"zh": "未办理", "en": "not done"}[lang]
    assert f"{NLC_BOOK} 四世同堂 / 老舍 著: {not_done} — {reason}" in shown
    # The receipt is longer than its box in English: the refused line (the last one
    # here) is in sight from its first word to its last, not below the fold.
    lines, sight = ui.screen.lines, window_box(ui.screen.scroll)
    label = window_box(lines)
    top_of_refused = label[3] - lines.anchors["refused"][1]
    assert sight[1] - 1 <= label[1] and top_of_refused <= sight[3] + 1, (label, top_of_refused, sight)


@pytest.mark.parametrize("lang", LANGS)
def test_a_vans_offline_banner_counts_what_waits(ui: Any, lang: str) -> None:
    view = KioskView(language=lang, online=False, offline_pending=5, profile="van")
    shown = check_and_keep(ui, view, f"van_offline_banner_{lang}")
    assert {"zh": "5 条记录待上传", "en": "5 waiting to be sent"}[lang] in shown
    banner = window_box(ui.app.banner)
    assert not overlaps(banner, window_box(ui.screen.header_row))
