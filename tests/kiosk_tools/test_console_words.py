"""The simulator console's lines name what the screen names: a library by its name in
the view's language, a refused book with its reason (issue 19 item 1)."""

from __future__ import annotations

from firmware.view import ItemLine, KioskView, Text
from kiosk_tools.console import describe

XICHENG = Text("西城区图书馆", "Xicheng District Library")
HELD = Text("这本书已被其他读者预约", "Another reader has reserved this book")


def test_a_transfer_names_the_library_and_a_refusal_says_why_in_the_views_language() -> None:
    items = (
        ItemLine("30102000000016", "围城", "returned", route="transfer", route_library="xicheng",
                 route_library_name=XICHENG, kind="return"),
        ItemLine("30002000000216", "推拿", "refused", reason_code="item_on_hold", message=HELD),
    )
    zh = describe(KioskView(screen="borrow", language="zh", items=items)).splitlines()
    assert zh[1:] == [
        "    30102000000016 围城 — returned transfer → 西城区图书馆",
        "    30002000000216 推拿 — refused item_on_hold: 这本书已被其他读者预约",
    ]
    en = describe(KioskView(screen="borrow", language="en", items=items)).splitlines()
    assert en[1].endswith("→ Xicheng District Library")
    assert en[2].endswith("item_on_hold: Another reader has reserved this book")
