"""Small things a reader notices (issue 20, Why 6): a card tapped again after
finishing, the wrong-PIN count, the inactivity notice's language, the receipt's
language."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.barcodes import make_item_barcode
from contract.card_schemes import make_card_number
from contract.messages import ReaderLookup
from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, CardPresented, CardRemoved
from firmware.core.config import CoreConfig
from firmware.core.effects import SendRequest
from firmware.core.events import LinkChanged, SelfTestDone
from kiosk_tools.core_harness import CoreHarness

JOINT = make_card_number("bj-joint", 42)
UID = b"\x01\x02\x03\x04"
BOOK = make_item_barcode("0002", 3)


def lookups(k: CoreHarness) -> int:
    return sum(1 for e in k.effects if isinstance(e, SendRequest) and isinstance(e.request, ReaderLookup))


def greeted(config: CoreConfig | None = None) -> CoreHarness:
    k = CoreHarness(config or CoreConfig(library_id="capital"))
    k.wait(0.25)
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(scheme="bj-joint", state="valid", masked_name="王*明", pin_required=False,
             loans=[], items_left=5)
    return k


def test_the_same_card_tapped_again_after_finishing_starts_a_new_session() -> None:
    k = greeted()
    k.feed(Press("finish"))
    assert k.view.screen == "summary"
    k.feed(CardRemoved(UID), CardPresented(uid=UID, data=JOINT.encode()))
    assert lookups(k) == 2
    k.answer(scheme="bj-joint", state="valid", masked_name="王*明", pin_required=False,
             loans=[], items_left=5)
    assert k.view.screen == "borrow"


def test_borrow_pressed_while_the_last_card_still_lies_on_the_reader_says_what_to_do() -> None:
    """The reader never sees a card that stays in its field again: the kiosk says lift
    it and tap again, not "tap your card" to someone whose card is right there."""
    k = greeted()
    k.feed(Press("finish"))
    k.wait(CoreConfig().summary_s + 1)
    assert k.view.screen == "attract"
    k.feed(Press("borrow"))
    assert k.view.notice == "notice.lift_card_and_tap"
    k.feed(CardRemoved(UID), Press("borrow"))
    assert k.view.notice == "notice.tap_card_first"


def test_the_inactivity_notice_is_in_the_readers_language_then_the_default_returns() -> None:
    config = CoreConfig(library_id="capital")
    k = greeted(config)
    k.feed(Press("lang"))
    assert k.view.language == "en"
    k.wait(config.inactivity_logout_s + 1)
    assert (k.view.screen, k.view.notice, k.view.language) == ("attract", "notice.logged_out", "en")
    k.wait(config.notice_s + 1)
    assert (k.view.notice, k.view.language) == (None, "zh")


def test_a_new_card_after_the_inactivity_notice_starts_in_the_default_language() -> None:
    config = CoreConfig(library_id="capital")
    k = greeted(config)
    k.feed(Press("lang"))
    k.wait(config.inactivity_logout_s + 1)
    k.feed(CardPresented(uid=b"\x09\x09\x09\x09", data=make_card_number("bj-joint", 7).encode()))
    assert k.view.language == "zh"


def test_the_receipt_follows_the_chosen_language() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK, "desk"))
    k.answer(allowed=True, title="To Live", due=datetime(2030, 2, 1, tzinfo=UTC))
    k.feed(Press("lang"), Press("finish"))
    receipt = "\n".join(k.view.receipt_lines)
    assert "loaned, due 2030-02-01" in receipt and "Card" in receipt
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in receipt)  # not one Chinese character
    k.feed(Press("lang"))  # switched back on the summary screen: the receipt follows
    receipt = "\n".join(k.view.receipt_lines)
    assert "借出 应还 2030-02-01" in receipt


def test_the_self_tests_test_card_is_not_taken_for_a_tap() -> None:
    """While the self-test runs it may lay its test card on an empty reader: the
    technician is not told "this is not a library card"."""
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=make_card_number("staff", 1).encode()))
    k.answer(scheme="staff", state="valid", pin_required=True)
    k.feed(PinEntered("246810"))
    k.answer(pin_ok=True, attempts_left=5)
    k.feed(CardRemoved(UID), Press("selftest"))
    k.feed(CardPresented(uid=b"\x07\x07\x07\x07", data=b"TESTCARD"))
    assert (k.view.screen, k.view.notice) == ("technician", None)
    k.feed(SelfTestDone(()))
    k.feed(CardPresented(uid=b"\x07\x07\x07\x07", data=b"TESTCARD"))
    assert k.view.notice == "notice.card_not_library"  # after the test, a tap is a tap
