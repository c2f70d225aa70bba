"""Returns through the chute: with or without a reader, routes, offline routing,
books taken back, unidentified books, jams."""

from __future__ import annotations

from types import MappingProxyType

from contract.barcodes import make_item_barcode
from contract.messages import Bilingual, CardRef, ReturnRoute
from contract.screens import Press
from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksTooClose,
    CardPresented,
    ChuteCleared,
    ChuteJammed,
)
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, CallStaff, Led, RecordTxn, SendRequest, SetDiverter
from firmware.core.events import LinkChanged
from firmware.view import Text
from kiosk_tools.core_harness import CoreHarness

OURS = make_item_barcode("0002", 7)
XICHENG = make_item_barcode("0102", 9)
STRANGER = make_item_barcode("9999", 1)
JOINT = "0101000012345"
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})


def kiosk() -> CoreHarness:
    return CoreHarness(CoreConfig(library_id="capital", institution_members=MEMBERS))


def drop(k: CoreHarness, barcode: str) -> tuple:
    return k.feed(BookEntered(1.0), BarcodeRead(barcode, source="chute"))


def test_chute_scan_on_attract_opens_returns_and_asks_for_route() -> None:
    k = kiosk()
    effects = drop(k, XICHENG)
    [request] = [e for e in effects if isinstance(e, SendRequest)]
    assert request.request == ReturnRoute(op="return_route", item=XICHENG, library_id="capital")
    assert k.view.screen == "returns"
    assert [(i.barcode, i.status) for i in k.view.items] == [(XICHENG, "checking")]


def test_return_is_recorded_when_route_known_and_book_passed() -> None:
    k = kiosk()
    drop(k, XICHENG)
    name = Bilingual(zh="西城区图书馆", en="Xicheng District Library")
    effects = k.answer(route="transfer", route_library="xicheng", route_library_name=name)
    assert not any(isinstance(e, RecordTxn) for e in effects)  # not inside yet
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0] == RecordTxn("return", XICHENG, None, None, "transfer", "online")
    assert effects[1] == SetDiverter("transfer")
    [line] = k.view.items
    assert (line.status, line.route, line.route_library) == ("returned", "transfer", "xicheng")
    assert line.route_library_name == Text("西城区图书馆", "Xicheng District Library")


def test_book_passing_before_the_answer_is_recorded_on_the_answer() -> None:
    k = kiosk()
    drop(k, OURS)
    assert not k.feed(BookPassed(at=2.0, transit_ms=300))
    effects = k.answer(route="shelve", route_library="capital")
    assert RecordTxn("return", OURS, None, None, "shelve", "online") in effects
    assert SetDiverter("shelve") in effects


def test_return_during_a_session_carries_the_readers_card() -> None:
    k = kiosk()
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", pin_required=False, items_left=3)
    drop(k, OURS)
    assert k.view.screen == "borrow"  # the reader's screen stays
    k.answer(route="shelve", route_library="capital")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0].card == CardRef(scheme="bj-joint", number=JOINT)


def test_route_timeout_routes_locally_and_marks_offline() -> None:
    k = kiosk()
    drop(k, XICHENG)
    k.time_out()
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0] == RecordTxn("return", XICHENG, None, None, "transfer", "offline")
    assert k.view.items[0].route_library == "xicheng"
    assert k.view.online is False


def test_offline_return_of_our_own_book_is_shelved() -> None:
    k = kiosk()
    k.feed(LinkChanged(False))
    effects = drop(k, OURS)
    assert not any(isinstance(e, SendRequest) for e in effects)
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0] == RecordTxn("return", OURS, None, None, "shelve", "offline")


def test_offline_return_of_unknown_home_goes_to_hold_for_staff() -> None:
    k = kiosk()
    k.feed(LinkChanged(False))
    drop(k, STRANGER)
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert SetDiverter("hold") in effects


def test_book_pulled_back_drops_the_pending_return() -> None:
    k = kiosk()
    drop(k, OURS)
    k.feed(BookPulledBack(at=2.0))
    assert (k.view.notice, k.view.notice_args) == ("notice.book_taken_back_named", (("book", OURS),))
    assert k.view.items == ()
    effects = k.answer(route="shelve")
    assert not any(isinstance(e, RecordTxn) for e in effects)


def test_book_passed_without_barcode_is_unidentified_and_held() -> None:
    k = kiosk()
    effects = k.feed(BookEntered(1.0), BookPassed(at=2.0, transit_ms=300))
    assert k.view.notice == "notice.book_unidentified"
    assert SetDiverter("hold") in effects
    assert not any(isinstance(e, RecordTxn) for e in effects)


def test_isbn_read_at_chute_leaves_the_book_unidentified() -> None:
    k = kiosk()
    k.feed(BarcodeRead("9787536692930", source="chute"))
    k.feed(BookPassed(at=2.0, transit_ms=300))
    assert k.view.notice == "notice.book_unidentified"


def test_same_book_read_twice_is_one_return() -> None:
    k = kiosk()
    drop(k, OURS)
    effects = k.feed(BarcodeRead(OURS, source="chute"))
    assert not any(isinstance(e, SendRequest) for e in effects)
    k.answer(route="shelve")
    k.feed(BookPassed(at=2.0, transit_ms=300))
    assert len(k.records("return")) == 1


def test_books_too_close_asks_for_one_at_a_time() -> None:
    k = kiosk()
    effects = k.feed(BooksTooClose(at=1.0))
    assert k.view.notice == "notice.one_book_at_a_time"
    assert Beep("warn") in effects


def test_hub_refusing_a_return_holds_the_book_for_staff() -> None:
    k = kiosk()
    drop(k, OURS)
    k.answer(allowed=False, reason_code="not_alliance_item")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert SetDiverter("hold") in effects
    assert not any(isinstance(e, RecordTxn) for e in effects)
    assert k.view.items[0].reason_code == "not_alliance_item"


def test_jam_puts_kiosk_out_of_service_until_cleared() -> None:
    k = kiosk()
    effects = k.feed(ChuteJammed(beam="exit", blocked_s=5.0))
    assert k.view.screen == "out_of_service"
    assert k.view.out_of_service_code == "chute-jammed"
    assert Led("fault") in effects
    assert CallStaff("chute-jammed") in effects
    effects = k.feed(BarcodeRead(OURS, source="chute"))
    assert not any(isinstance(e, SendRequest) for e in effects)
    k.feed(ChuteCleared())
    assert k.view.screen == "attract"


def test_jam_pauses_borrowing_and_resumes_the_session_after() -> None:
    k = kiosk()
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(state="valid", pin_required=False)
    k.feed(ChuteJammed(beam="entry", blocked_s=5.0))
    effects = k.feed(BarcodeRead(OURS))
    assert not any(isinstance(e, SendRequest) for e in effects)
    assert k.view.screen == "out_of_service"
    k.feed(ChuteCleared())
    assert k.view.screen == "borrow"


def test_return_button_on_attract_shows_instructions() -> None:
    k = kiosk()
    k.feed(Press("return"))
    assert k.view.screen == "returns"
    assert k.view.notice == "notice.returns_instructions"
    k.feed(Press("cancel"))
    assert k.view.screen == "attract"


def test_returns_screen_without_reader_goes_back_to_attract_when_idle() -> None:
    k = kiosk()
    drop(k, OURS)
    k.answer(route="shelve")
    k.feed(BookPassed(at=2.0, transit_ms=300))
    k.wait(61)
    assert k.view.screen == "attract"
