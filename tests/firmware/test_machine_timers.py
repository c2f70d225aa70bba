"""Inactivity warning and auto-logout, card left on the reader, notices fading."""

from __future__ import annotations

from contract.barcodes import make_item_barcode
from contract.screens import Press
from drivers.events import BarcodeRead, CardPresented, CardRemoved
from firmware.core.effects import Beep, Log
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
UID = b"\x01\x02\x03\x04"


def greeted() -> CoreHarness:
    k = CoreHarness()
    k.wait(0.25)
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=3)
    return k


def test_no_countdown_before_inactivity_warning() -> None:
    k = greeted()
    k.wait(44)
    assert k.view.countdown_s is None


def test_countdown_shown_after_inactivity_warning() -> None:
    k = greeted()
    k.wait(45.25)
    assert k.view.countdown_s == 15


def test_any_input_resets_the_countdown() -> None:
    k = greeted()
    k.wait(50)
    k.feed(Press("lang"))
    assert k.view.countdown_s is None
    k.wait(50)
    assert k.view.screen == "borrow"


def test_auto_logout_after_inactivity_logout() -> None:
    k = greeted()
    k.feed(CardRemoved(UID))
    k.wait(59.5)
    assert k.view.screen == "borrow"
    effects = k.wait(0.75)
    assert k.view.screen == "attract"
    assert k.state.reader is None
    assert k.view.notice == "notice.logged_out"
    assert any(isinstance(e, Log) and e.event == "session.auto_logout" for e in effects)


def test_no_logout_while_a_book_is_being_checked() -> None:
    k = CoreHarness()  # the hub never answers, and the link has not timed it out yet
    k.wait(0.25)
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=3)
    k.feed(BarcodeRead(make_item_barcode("0002", 1)))
    k.wait(70)
    assert k.view.screen == "borrow"
    assert k.view.countdown_s is None


def test_card_left_after_finish_warns_once() -> None:
    k = greeted()
    k.feed(Press("finish"))
    k.wait(10.25)
    assert k.view.screen == "attract"
    k.wait(9.5)
    assert k.view.notice is None
    effects = k.wait(0.5)
    assert k.view.notice == "notice.take_your_card"
    assert Beep("warn") in effects
    assert Beep("warn") not in k.wait(5)


def test_taking_the_card_clears_the_warning() -> None:
    k = greeted()
    k.feed(Press("finish"))
    k.wait(21)
    k.feed(CardRemoved(UID))
    assert k.view.notice is None


def test_card_left_after_auto_logout_warns() -> None:
    k = greeted()
    k.wait(61)
    k.wait(20)
    assert k.view.notice == "notice.take_your_card"


def test_notices_fade_after_notice_seconds() -> None:
    k = CoreHarness()
    k.wait(0.25)
    k.feed(Press("borrow"))
    assert k.view.notice == "notice.tap_card_first"
    k.wait(10.25)
    assert k.view.notice is None
