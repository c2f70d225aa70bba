"""Borrowing and renewing: scans, double scans, answers, finish and summary."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.barcodes import make_item_barcode
from contract.messages import Bilingual, CardRef, CheckoutAuth, LoanLine, RenewAuth, Response
from contract.screens import Press
from drivers.events import BarcodeRead, BarcodeRejected, CardPresented, CardRemoved
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, PrintReceipt, RecordTxn, SendRequest
from firmware.core.events import HubAnswered, HubTimedOut
from firmware.view import Text
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
CARD = CardRef(scheme="bj-joint", number=JOINT)
BOOK = make_item_barcode("0002", 1)
BOOK2 = make_item_barcode("0002", 2)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)
UID = b"\x01\x02\x03\x04"


def greeted(loans: tuple[str, ...] = ()) -> CoreHarness:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    lines = [LoanLine(item=b, title=f"Title {b}", due=DUE) for b in loans]
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=False,
             loans=lines, items_left=5)
    return k


def sent(effects: tuple) -> list[SendRequest]:
    return [e for e in effects if isinstance(e, SendRequest)]


def test_scan_adds_checking_line_and_sends_checkout_auth() -> None:
    k = greeted()
    effects = k.feed(BarcodeRead(BOOK))
    [request] = sent(effects)
    assert request.request == CheckoutAuth(op="checkout_auth", card=CARD, item=BOOK, library_id="capital")
    [line] = k.view.items
    assert (line.barcode, line.status) == (BOOK, "checking")
    assert k.view.busy


def test_allowed_checkout_records_loan_before_showing_it() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE, title="三体", items_left=4)
    assert effects[0] == RecordTxn("loan", BOOK, CARD, DUE, None, "online")
    assert Beep("ok") in effects
    [line] = k.view.items
    assert (line.status, line.due, line.title) == ("loaned", "2030-02-01", "三体")
    assert k.view.items_left == 4
    assert k.view.reader_loans == 1


def test_refused_checkout_shows_reason_and_hub_message() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=False, reason_code="not_for_loan",
                       message=Bilingual(zh="不外借", en="Not for loan"))
    assert not any(isinstance(e, RecordTxn) for e in effects)
    [line] = k.view.items
    assert (line.status, line.reason_code) == ("refused", "not_for_loan")
    assert line.message == Text("不外借", "Not for loan")


def test_a_refused_book_keeps_the_title_the_hub_named_it_by() -> None:
    """Three books on the desk, one refused: its line names it, not only why."""
    k = greeted()
    for book, title in ((BOOK, "活着 / 余华 著"), (BOOK2, "围城 / 钱锺书 著")):
        k.feed(BarcodeRead(book))
        k.answer(allowed=False, reason_code="not_for_loan", message=Bilingual(zh="不外借", en="Not for loan"),
                 title=title)
    assert [(x.barcode, x.title, x.status) for x in k.view.items] == [
        (BOOK, "活着 / 余华 著", "refused"), (BOOK2, "围城 / 钱锺书 著", "refused"),
    ]


def test_invalid_barcode_is_refused_locally_without_asking_the_hub() -> None:
    k = greeted()
    bad = BOOK[:-1] + str((int(BOOK[-1]) + 1) % 10)
    effects = k.feed(BarcodeRead(bad))
    assert not sent(effects)
    [line] = k.view.items
    assert (line.status, line.reason_code) == ("refused", "bad_barcode")
    assert line.message is not None and line.message.zh and line.message.en


def test_isbn_is_not_an_item_barcode() -> None:
    k = greeted()
    k.feed(BarcodeRead("9787536692930"))
    assert k.view.items[0].reason_code == "not_an_item"


def test_double_scan_while_checking_sends_one_request() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.feed(BarcodeRead(BOOK))
    assert not sent(effects)
    assert k.view.notice == "notice.already_scanned"
    assert len(k.view.items) == 1


def test_double_scan_never_makes_two_loans() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    k.feed(BarcodeRead(BOOK))
    assert k.view.notice == "notice.already_scanned"
    assert len(k.records("loan")) == 1
    checkouts = [e for e in k.effects if isinstance(e, SendRequest) and e.request.op == "checkout_auth"]
    assert len(checkouts) == 1


def test_a_late_duplicate_answer_does_not_record_twice() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    corr = k.last_request().corr_id
    k.answer(allowed=True, due=DUE)
    k.feed(HubAnswered(corr, Response(allowed=True, due=DUE)), HubTimedOut(corr))
    assert len(k.records("loan")) == 1


def test_second_book_waits_its_turn_while_first_is_checked() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.feed(BarcodeRead(BOOK2))
    assert not sent(effects)
    assert [i.status for i in k.view.items] == ["checking", "checking"]
    effects = k.answer(allowed=True, due=DUE)
    [request] = sent(effects)
    assert request.request.item == BOOK2


def test_refused_book_may_be_scanned_again() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=False, reason_code="on_hold")
    effects = k.feed(BarcodeRead(BOOK))
    assert len(sent(effects)) == 1
    assert len(k.view.items) == 1


def test_scan_on_attract_asks_for_a_card() -> None:
    k = CoreHarness()
    effects = k.feed(BarcodeRead(BOOK))
    assert k.view.notice == "notice.tap_card_first"
    assert not sent(effects)


def test_scan_on_pin_screen_asks_for_pin() -> None:
    k = CoreHarness()
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=True)
    k.feed(BarcodeRead(BOOK))
    assert k.view.notice == "notice.enter_pin_first"


def test_rejected_desk_scan_shows_unreadable_notice() -> None:
    k = greeted()
    k.feed(BarcodeRejected(reason="non-printable", length=5))
    assert k.view.notice == "notice.barcode_unreadable"


def test_finish_shows_summary_and_prints_receipt() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    effects = k.feed(Press("finish"))
    assert k.view.screen == "summary"
    [receipt] = [e for e in effects if isinstance(e, PrintReceipt)]
    assert receipt.lines == k.view.receipt_lines
    assert any(BOOK in line and "2030-02-01" in line for line in receipt.lines)
    assert not any(JOINT in line for line in receipt.lines)


def test_finish_while_a_book_is_checked_asks_to_wait() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK), Press("finish"))
    assert k.view.screen == "borrow"
    assert k.view.notice == "notice.please_wait"


def test_finish_with_nothing_done_prints_nothing() -> None:
    k = greeted()
    effects = k.feed(Press("finish"))
    assert k.view.screen == "summary"
    assert not any(isinstance(e, PrintReceipt) for e in effects)


def test_summary_ends_when_card_removed() -> None:
    k = greeted()
    k.feed(Press("finish"), CardRemoved(UID))
    assert k.view.screen == "attract"
    assert k.view.items == ()


def test_summary_ends_after_summary_seconds() -> None:
    k = greeted()
    k.feed(CardRemoved(UID), Press("finish"))
    k.wait(9.5)
    assert k.view.screen == "summary"
    k.wait(1.0)
    assert k.view.screen == "attract"
    assert k.state.reader is None


def test_renew_sends_one_renew_auth_at_a_time() -> None:
    k = greeted(loans=(BOOK, BOOK2))
    effects = k.feed(Press("renew"))
    [first] = sent(effects)
    assert first.request == RenewAuth(op="renew_auth", card=CARD, item=BOOK, library_id="capital")
    effects = k.answer(allowed=True, due=datetime(2030, 3, 1, tzinfo=UTC))
    assert effects[0] == RecordTxn("renew", BOOK, CARD, datetime(2030, 3, 1, tzinfo=UTC), None, "online")
    [second] = sent(effects)
    assert second.request.item == BOOK2
    k.answer(allowed=False, reason_code="max_renewals")
    assert [(i.barcode, i.status) for i in k.view.items] == [(BOOK, "renewed"), (BOOK2, "refused")]
    assert k.view.items[0].due == "2030-03-01"


def test_renew_with_no_loans_says_so() -> None:
    k = greeted()
    k.feed(Press("renew"))
    assert k.view.notice == "notice.nothing_to_renew"


def test_renew_timeout_refuses_the_renewal() -> None:
    k = greeted(loans=(BOOK,))
    k.feed(Press("renew"))
    effects = k.time_out()
    assert not any(isinstance(e, RecordTxn) for e in effects)
    assert k.view.items[0].reason_code == "hub_unreachable"


def test_return_button_on_borrow_keeps_reader_logged_in() -> None:
    k = greeted()
    k.feed(Press("return"))
    assert k.view.screen == "returns"
    assert k.view.reader_name == "王*明"
    k.feed(Press("borrow"))
    assert k.view.screen == "borrow"


def test_desk_scan_on_returns_screen_brings_a_reader_back_to_borrowing() -> None:
    k = greeted()
    k.feed(Press("return"), BarcodeRead(BOOK))
    assert k.view.screen == "borrow"
    assert k.view.items[0].status == "checking"
