"""Realistic sample views for screenshots, demos and UI tests until the real core drives
the screen. Plain data only (no Kivy), shaped exactly like the core's `render` output."""

from __future__ import annotations

from dataclasses import replace

from drivers.diagnostics import FAULT_HINTS
from firmware.view import DeviceLine, DueNote, HoldNote, ItemLine, KioskView, TechnicianView, Text

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


def holds() -> tuple[HoldNote, ...]:
    """The greeting's holds as the core renders them at Xicheng: one on the hold shelf
    here, one on its way to Dongcheng (issue 19)."""
    return (
        HoldNote("30102000000224", "乡土中国 / 费孝通 著", "ready", "xicheng", XICHENG, here=True),
        HoldNote("30108000000211", "城记 / 王军 著", "in_transit", "dongcheng", DONGCHENG),
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
    """A self-test as the drivers write it (`firmware diag --sim`), one scanner unplugged."""
    return TechnicianView(
        devices=(
            DeviceLine("card_reader", True, "ok", "", "version register 0x92; antenna on; test card 51417d67 read"),
            DeviceLine(
                "scanner",
                False,
                "scanner-unplugged",
                FAULT_HINTS["scanner-unplugged"],
                "serial /dev/ttyUSB0: absent (cannot open /dev/ttyUSB0: [Errno 2] could not open port /dev/ttyUSB0: [Errno 2] No such file or directory: '/dev/ttyUSB0')",
            ),
            DeviceLine("chute_scanner", True, "ok", "", "test scan read back on serial /dev/ttyUSB1"),
            DeviceLine("chute", True, "ok", "", "entry beam ok; exit beam ok"),
            DeviceLine("flap", True, "ok", "", "toggles"),
            DeviceLine("status_led", True, "ok", "", "toggles"),
            DeviceLine("buzzer", True, "ok", "", "toggles"),
        ),
        journal_pending=3,
        journal_oldest_pending_s=42.0,
        hub_link="offline",
        recent_faults=("scanner:scanner-unplugged", "chute:chute-jammed"),
        maintenance=True,
    )


def receipt(language: str = "zh") -> tuple[str, ...]:
    """Shaped like the core's `receipt_lines` in `language` (titles stay as catalogued):
    the library by its name, a refused book with its title and why."""
    if language == "zh":
        return (
            "首都图书馆联盟",
            "馆: 西城区图书馆  机: K-07",
            "读者证: 0110****2341",
            "30101000000017 平凡的世界（全三册）: 借出 应还 2025-04-12",
            "30101000000025 活着: 离线借出 应还 2025-04-12",
            "30234000001233 百年孤独: 未办理 — 这本书已被其他读者预约",
        )
    return (
        "Capital Library Alliance",
        "Library: Xicheng District Library  Kiosk: K-07",
        "Card: 0110****2341",
        "30101000000017 平凡的世界（全三册）: loaned, due 2025-04-12",
        "30101000000025 活着: loaned offline, due 2025-04-12",
        "30234000001233 百年孤独: not done — Another reader has reserved this book",
    )


NOT_HERE = Text(
    "本馆不能用这种读者卡借书，但可以还书。",
    "This library cannot lend on this kind of card, but you can return books here.",
)
LOST = Text(
    "这张卡已经挂失，不能使用。请到服务台办理。",
    "This card has been reported lost and cannot be used. Please go to the service desk.",
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
            items=borrow_items()[:3],
            receipt_lines=receipt(language),
        ),
        "help": replace(base, screen="help"),
        "out_of_service": replace(base, screen="out_of_service", out_of_service_code="chute-jammed"),
        "technician": replace(base, screen="technician", technician=technician()),
        "maintenance": replace(base, screen="maintenance"),
        "borrow_returns_only": replace(
            base,
            screen="borrow",
            library_id="capital",
            reader_name="赵*",
            reader_loans=2,
            may_borrow=False,
            borrow_message=NOT_HERE,
            items=(
                ItemLine("30002000000018", "", "refused", reason_code="scheme_not_accepted", message=NOT_HERE),
            ),
        ),
        "borrow_offline": replace(
            base,
            screen="borrow",
            online=False,
            session_offline=True,
            items_left=2,
            items=(borrow_items()[1],),
            notice="notice.offline_reader",
            notice_args=(("max_items", "3"),),
            extras={"session_mode": "offline"},
        ),
        "borrow_offline_returns_only": replace(
            base,
            screen="borrow",
            library_id="capital",
            online=False,
            session_offline=True,
            may_borrow=False,
            borrow_message=NOT_HERE,
            notice="notice.offline_returns_only",
            extras={"session_mode": "offline"},
        ),
        "pin_wrong": replace(
            base, screen="pin", pin_attempts_left=4, notice="notice.pin_wrong"
        ),
        "card_lost": replace(
            base, notice="notice.card_refused", notice_args=(("state", "blocked"),), hub_message=LOST
        ),
        "logged_out": replace(base, notice="notice.logged_out"),
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
        "borrow_holds": replace(
            base,
            screen="borrow",
            reader_name="王*明",
            reader_loans=2,
            items_left=8,
            holds=holds(),
            due_soon=(DueNote("30102000000018", "活着 / 余华 著", "2025-03-05"),),
        ),
    }
    return views
