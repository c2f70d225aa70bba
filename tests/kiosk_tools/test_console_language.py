"""The simulator console prints the reader's words in the screen's language, as the
touchscreen shows them; message keys and codes only with `--keys` (issue 19 item 6)."""

from __future__ import annotations

from firmware.view import ItemLine, KioskView, Text
from kiosk_tools.console import describe
from kiosk_ui.i18n import Catalogue

CAT = Catalogue.load()
HELD = Text(
    "这本书已经为别的读者预约保留，现在不能借。",
    "This book is reserved for another reader and cannot be borrowed now.",
)
ITEMS = (
    ItemLine("30002000000018", "生死疲劳 / 莫言 著", "loaned", due="2026-12-28"),
    ItemLine(
        "30002000000216", "推拿 / 毕飞宇 著", "refused", reason_code="item_on_hold", message=HELD
    ),
)


def borrow_view(language: str, online: bool = True) -> KioskView:
    return KioskView(
        screen="borrow", language=language, online=online, reader_name="王*明", reader_loans=1, items_left=4,
        items=ITEMS, notice="notice.already_scanned",
    )  # fmt: skip


def test_the_console_speaks_chinese_then_english_as_the_screen_does() -> None:
    zh = describe(borrow_view("zh"), catalogue=CAT)
    assert zh.splitlines()[0].startswith(CAT.text("zh", "borrow.greeting", name="王*明"))
    assert CAT.text("zh", "borrow.items_left", n=4) in zh
    assert "《生死疲劳》 莫言 著 — " + CAT.text("zh", "status.loaned") in zh
    assert "2026年12月28日" in zh
    assert f"{CAT.text('zh', 'status.refused')}: {HELD.zh}" in zh
    assert CAT.text("zh", "notice.already_scanned") in zh
    en = describe(borrow_view("en"), catalogue=CAT)
    assert en.splitlines()[0].startswith(CAT.text("en", "borrow.greeting", name="王*明"))
    assert "28 December 2026" in en and HELD.en in en
    assert CAT.text("en", "status.loaned") in en
    for said in (zh, en):
        assert "status." not in said and "notice." not in said and "[borrow]" not in said


def test_an_offline_kiosk_says_so_in_the_readers_words() -> None:
    said = describe(KioskView(screen="attract", language="en", online=False), catalogue=CAT)
    assert said == f"[{CAT.text('en', 'banner.offline')}] · {CAT.text('en', 'attract.title')}"


def test_keys_mode_prints_the_keys_and_codes() -> None:
    said = describe(borrow_view("zh", online=False), keys=True)
    assert said.splitlines()[0].startswith("[borrow] OFFLINE reader 王*明 notice.already_scanned")
    assert "30002000000018 生死疲劳 / 莫言 著 — loaned 2026-12-28" in said
