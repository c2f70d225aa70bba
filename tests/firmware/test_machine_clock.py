"""The core's clock: each timer fires at its configured second exactly (not one tick
late), the first Tick moves what happened before it, and the wall clock stays known
between Ticks that do not carry it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.barcodes import make_item_barcode
from contract.screens import Press
from drivers.events import BarcodeRead, CardPresented, CardRemoved
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, RecordTxn
from firmware.core.events import LinkChanged, Tick
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
UID = b"\x01\x02\x03\x04"
BOOK = make_item_barcode("0002", 1)
WALL = datetime(2030, 1, 1, 9, tzinfo=UTC)


def greeted(k: CoreHarness) -> CoreHarness:
    k.wait(0.25)
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=5)
    return k


def test_the_summary_ends_at_summary_s_exactly() -> None:
    config = CoreConfig(summary_s=5.0)
    k = greeted(CoreHarness(config))
    k.feed(CardRemoved(UID), Press("finish"))
    k.wait(4.75)
    assert k.view.screen == "summary"
    k.wait(0.25)
    assert k.view.screen == "attract"


def test_an_idle_reader_is_logged_out_at_inactivity_logout_s_exactly() -> None:
    config = CoreConfig(inactivity_logout_s=10.0)
    k = greeted(CoreHarness(config))
    k.wait(9.75)
    assert k.view.screen == "borrow"
    k.wait(0.25)
    assert k.view.screen != "borrow"


def test_a_card_left_is_warned_of_at_card_left_warn_s_exactly_and_once() -> None:
    config = CoreConfig(card_left_warn_s=6.0, summary_s=1.0)
    k = greeted(CoreHarness(config))
    k.feed(Press("finish"))
    k.wait(5.75)
    assert k.view.notice != "notice.take_your_card"
    assert k.wait(0.25) == (Beep("warn"),)
    assert k.view.notice == "notice.take_your_card"


def test_a_notice_goes_at_notice_s_exactly() -> None:
    config = CoreConfig(notice_s=3.0)
    k = CoreHarness(config)
    k.wait(0.25)
    k.feed(Press("borrow"))
    k.wait(2.75)
    assert k.view.notice == "notice.tap_card_first"
    k.wait(0.25)
    assert k.view.notice is None


def test_what_happened_before_the_first_tick_is_timed_from_it() -> None:
    """A card lying on the reader at start-up is not warned about at once."""
    k = CoreHarness(CoreConfig(card_left_warn_s=6.0, notice_s=3.0))
    k.feed(Press("borrow"))  # a notice, at the core's clock 0
    k.now = 5000.0
    k.wait(0.25)  # the first Tick, at 5000.25
    assert k.view.notice == "notice.tap_card_first"
    k.wait(2.5)
    assert k.view.notice == "notice.tap_card_first"


def test_a_tick_without_the_wall_clock_keeps_the_last_one() -> None:
    k = CoreHarness(CoreConfig(offline_loan_days=10))
    k.feed(Tick(1.0, WALL), Tick(2.0), LinkChanged(True))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.time_out()
    k.feed(LinkChanged(False), BarcodeRead(BOOK))
    [record] = [e for e in k.last if isinstance(e, RecordTxn)]
    assert record.due == WALL + timedelta(days=10)


def test_a_tick_from_an_earlier_moment_never_moves_the_clock_back() -> None:
    k = CoreHarness()
    k.feed(Tick(100.0), Tick(50.0))
    assert k.state.now == 100.0
