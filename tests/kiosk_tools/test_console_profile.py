"""The headless simulator console shows what a van's banner and a book drop's light show."""

from __future__ import annotations

from firmware.view import KioskView
from kiosk_tools.console import describe


def test_offline_the_console_counts_what_waits_to_be_sent() -> None:
    assert "7 waiting to be sent" in describe(
        KioskView(online=False, offline_pending=7, profile="van", language="en")
    )
    assert "7 条记录待上传" in describe(KioskView(online=False, offline_pending=7, profile="van"))
    assert "7 waiting to be sent" in describe(
        KioskView(online=False, offline_pending=7, profile="van"), keys=True
    )
    assert "waiting" not in describe(KioskView(online=True, offline_pending=None))


def test_at_a_book_drop_the_console_shows_the_light() -> None:
    said = describe(KioskView(online=False, profile="book_drop", led="offline"))
    assert "light offline" in said
    assert "light" not in describe(KioskView(online=True, profile="kiosk"))
