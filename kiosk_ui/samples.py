"""Realistic sample views for screenshots, demos and UI tests until the real core drives
the screen. Plain data only (no Kivy), shaped exactly like the core's `render` output."""

from __future__ import annotations

from dataclasses import replace

from firmware.view import DeviceLine, ItemLine, KioskView, TechnicianView, Text

XICHENG = Text("西城区图书馆", "Xicheng District Library")
DONGCHENG = Text("东城区第一图书馆", "Dongcheng District First Library")


def borrow_items() -> tuple[ItemLine, ...]:
    return (
        ItemLine("30101000000017", "平凡的世界（全三册）", "loaned", due="2025-04-12"),
        ItemLine("30101000000025", "活着", "offline_loaned", due="2025-04-12"),
        ItemLine(
            "30234000001233",
            "百年孤独",
            "refused",
            reason_code="item_on_hold",
            message=Text("这本书已被其他读者预约", "Another reader has reserved this book"),
        ),
        ItemLine("30101000000033", "红楼梦", "refused", reason_code="limit_reached"),
        ItemLine("30101000000041", "三体", "checking"),
    )


def return_items() -> tuple[ItemLine, ...]:
    return (
        ItemLine("30101000000017", "平凡的世界（全三册）", "returned", route="shelve"),
        ItemLine(
            "30234000001233",
            "城南旧事",
            "returned",
            route="transfer",
            route_library="xicheng",
            route_library_name=XICHENG,
        ),
        ItemLine("30101000000058", "围城", "returned", route="hold"),
        ItemLine(
            "30345000000127",
            "骆驼祥子",
            "returned",
            route="transfer",
            route_library="dongcheng",
            route_library_name=DONGCHENG,
        ),
    )


def technician() -> TechnicianView:
    return TechnicianView(
        devices=(
            DeviceLine("card_reader", True, "ok", "", "version=0x92 reads=1843"),
            DeviceLine(
                "scanner",
                False,
                "scanner-unplugged",
                "The barcode scanner is not connected. Check its USB/serial cable and that it is powered.",
                "port=/dev/ttyUSB0 (absent)",
            ),
            DeviceLine("chute", True, "ok", "", "entry=clear exit=clear"),
        ),
        journal_pending=3,
        journal_oldest_pending_s=42.0,
        hub_link="offline",
        recent_faults=("scanner-unplugged", "chute-jammed"),
        maintenance=True,
    )


def receipt() -> tuple[str, ...]:
    return (
        "首都图书馆联盟 Capital Library Alliance",
        "西城区图书馆 自助借还机 K-07",
        "2025-03-01 10:42",
        "读者 Reader: 王*明",
        "借 Loan  平凡的世界（全三册） 30101000000017  还 due 2025-04-12",
        "借 Loan  活着 30101000000025  还 due 2025-04-12",
        "共 2 本 / 2 items",
    )


def sample_views(language: str = "zh") -> dict[str, KioskView]:
    """Name -> view: every screen plus the overlays (offline, countdown, notice, refusal)."""
    base = KioskView(language=language, online=True, library_id="xicheng", kiosk_id="K-07")
    views = {
        "attract": base,
        "pin": replace(base, screen="pin", pin_length=3, pin_attempts_left=4, reader_name="王*明"),
        "borrow": replace(
            base,
            screen="borrow",
            reader_name="王*明",
            reader_loans=3,
            items_left=7,
            items=borrow_items()[:2],
        ),
        "borrow_busy": replace(
            base,
            screen="borrow",
            busy=True,
            reader_name="王*明",
            reader_loans=3,
            items_left=7,
            items=(*borrow_items()[:2], borrow_items()[4]),
        ),
        "borrow_refusal": replace(
            base,
            screen="borrow",
            reader_name="李*华",
            reader_loans=10,
            items_left=0,
            items=borrow_items()[:4],
        ),
        "returns": replace(base, screen="returns", items=return_items()),
        "summary": replace(
            base,
            screen="summary",
            reader_name="王*明",
            items=borrow_items()[:2],
            receipt_lines=receipt(),
        ),
        "help": replace(base, screen="help"),
        "out_of_service": replace(base, screen="out_of_service", out_of_service_code="chute-jammed"),
        "technician": replace(base, screen="technician", technician=technician()),
        "offline": replace(
            base, screen="returns", online=False, items=return_items()[:2]
        ),
        "countdown": replace(
            base,
            screen="borrow",
            reader_name="王*明",
            items=borrow_items()[:1],
            countdown_s=15,
        ),
        "notice": replace(base, notice="notice.one_card_at_a_time"),
    }
    return views
