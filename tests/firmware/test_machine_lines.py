"""Each loan, renewal and return line as it ends, in full: its status, reason, words,
mode and due date, and the record, diverter, sound and log line that go with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from contract.barcodes import make_item_barcode
from contract.messages import Bilingual, CardRef, LoanLine
from contract.privacy import blocklist_hash
from contract.screens import Press
from drivers.events import BarcodeRead, BookEntered, BookPassed, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, Log, PrintReceipt, RecordTxn, SetDiverter
from firmware.core.events import BlocklistUpdated, JournalFailed, LinkChanged
from firmware.view import Text
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
CARD = CardRef(scheme="bj-joint", number=JOINT)
UID = b"\x01\x02\x03\x04"
OURS = make_item_barcode("0002", 7)
XICHENG = make_item_barcode("0102", 9)
BOOK = make_item_barcode("0002", 1)
BOOK2 = make_item_barcode("0002", 2)
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})
WALL = datetime(2030, 1, 1, 9, tzinfo=UTC)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)
NO = Bilingual(zh="不行", en="Not here")


def chute_kiosk() -> CoreHarness:
    k = CoreHarness(CoreConfig(library_id="capital", institution_members=MEMBERS))
    k.feed(LinkChanged(True))
    return k


def drop(k: CoreHarness, barcode: str) -> tuple:
    return k.feed(BookEntered(1.0), BarcodeRead(barcode, source="chute"))


def reader(config: CoreConfig | None = None, items_left: int | None = 5,
           loans: tuple[str, ...] = ()) -> CoreHarness:
    k = CoreHarness(config or CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    lines = [LoanLine(item=b, title=f"Title {b}", due=DUE) for b in loans]
    k.answer(state="valid", pin_required=False, loans=lines, items_left=items_left)
    return k


def offline_reader(**config: object) -> CoreHarness:
    k = CoreHarness(CoreConfig(**config))
    k.feed(LinkChanged(True))
    k.wait(0.25, wall=WALL)
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.time_out()
    return k


# ---- returns ----


def test_an_online_return_records_diverts_beeps_and_logs_its_route_and_mode() -> None:
    k = chute_kiosk()
    drop(k, XICHENG)
    name = Bilingual(zh="西城区图书馆", en="Xicheng District Library")
    k.answer(route="transfer", route_library="xicheng", route_library_name=name, title="Moby")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects == (
        RecordTxn("return", XICHENG, None, None, "transfer", "online"),
        SetDiverter("transfer"),
        Beep("ok"),
        Log("info", "return.recorded", {"item": XICHENG, "route": "transfer", "mode": "online"}),
    )
    (line,) = k.state.lines
    assert (line.kind, line.barcode, line.status, line.title) == ("return", XICHENG, "returned", "Moby")
    assert (line.route, line.route_library, line.mode) == ("transfer", "xicheng", "online")
    assert line.route_library_name == Text(name.zh, name.en)


def test_a_return_with_the_link_down_is_routed_by_the_local_rule_and_logged_offline() -> None:
    k = chute_kiosk()
    k.feed(LinkChanged(False))
    drop(k, XICHENG)
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0] == RecordTxn("return", XICHENG, None, None, "transfer", "offline")
    assert effects[1:] == (
        SetDiverter("transfer"),
        Beep("ok"),
        Log("info", "return.recorded", {"item": XICHENG, "route": "transfer", "mode": "offline"}),
    )
    (line,) = k.state.lines
    assert (line.status, line.route_library, line.mode) == ("returned", "xicheng", "offline")
    # no hub to name the library: the alliance's member data does (contract/data/members.toml)
    assert line.route_library_name == Text("西城区图书馆", "Xicheng District Library")


def test_a_route_the_hub_gave_without_the_librarys_name_is_named_from_the_alliances_data() -> None:
    k = chute_kiosk()
    drop(k, XICHENG)
    k.answer(route="transfer", route_library="xicheng")
    k.feed(BookPassed(at=2.0, transit_ms=300))
    (line,) = k.view.items
    assert line.route_library_name == Text("西城区图书馆", "Xicheng District Library")


def test_a_return_the_hub_refuses_goes_to_the_hold_bin_with_the_hubs_words() -> None:
    k = chute_kiosk()
    drop(k, OURS)
    k.answer(allowed=False, reason_code="item_unknown", message=NO)
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects == (
        SetDiverter("hold"), Beep("error"), Log("info", "return.refused", {"reason": "item_unknown"}),
    )
    (line,) = k.state.lines
    assert (line.status, line.reason_code, line.message) == ("refused", "item_unknown", Text(NO.zh, NO.en))
    assert line.route == "hold"
    assert not k.records()


def test_a_refused_return_keeps_the_title_the_hub_named_it_by() -> None:
    k = chute_kiosk()
    drop(k, OURS)
    k.answer(allowed=False, reason_code="item_unknown", message=NO, title="围城 / 钱锺书 著")
    k.feed(BookPassed(at=2.0, transit_ms=300))
    (line,) = k.view.items
    assert (line.status, line.kind, line.title) == ("refused", "return", "围城 / 钱锺书 著")


def test_a_return_the_hub_refuses_without_a_reason_or_words_gets_ours() -> None:
    k = chute_kiosk()
    drop(k, OURS)
    k.answer(allowed=False)
    k.feed(BookPassed(at=2.0, transit_ms=300))
    (line,) = k.state.lines
    assert (line.status, line.reason_code, line.route) == ("refused", "refused", "hold")


def test_a_book_already_in_the_chute_when_the_journal_fails_is_refused_to_the_hold_bin() -> None:
    k = chute_kiosk()
    drop(k, OURS)
    k.answer(route="shelve")
    k.feed(JournalFailed(code="journal-io", detail="EIO"))
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[:2] == (SetDiverter("hold"), Beep("error"))
    assert Log("info", "return.refused", {"reason": "out_of_service"}) in effects
    (line,) = k.state.lines
    assert (line.status, line.reason_code) == ("refused", "out_of_service")
    assert line.message is not None and line.message.en
    assert not k.records()


def test_a_book_nobody_could_read_goes_to_the_hold_bin_with_a_warning() -> None:
    k = chute_kiosk()
    effects = k.feed(BookEntered(1.0), BookPassed(at=2.0, transit_ms=300))
    assert effects[-3:] == (
        SetDiverter("hold"), Beep("warn"), Log("warning", "return.unidentified", {}),
    )
    assert (k.view.screen, k.view.notice) == ("returns", "notice.book_unidentified")


def test_a_reader_returning_a_book_has_it_recorded_on_their_card() -> None:
    k = reader()
    k.feed(Press("return"))
    drop(k, OURS)
    k.answer(route="shelve")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert effects[0] == RecordTxn("return", OURS, CARD, None, "shelve", "online")


# ---- loans and renewals ----


def test_an_online_loan_is_shown_with_the_hubs_due_date_and_title_and_counts_down() -> None:
    k = reader(items_left=5)
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE, title="Moby")
    assert effects[:2] == (RecordTxn("loan", BOOK, CARD, DUE, None, "online"), Beep("ok"))
    (line,) = k.state.lines
    assert (line.status, line.due, line.title, line.mode) == ("loaned", DUE, "Moby", "online")
    assert k.view.items_left == 4
    k.feed(BarcodeRead(BOOK2))
    k.answer(allowed=True, due=DUE, items_left=1)
    assert k.view.items_left == 1


def test_an_online_loan_without_a_count_from_anyone_shows_none() -> None:
    k = reader(items_left=None)
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    assert k.state.reader is not None and k.state.reader.items_left is None


def test_a_loan_allowed_after_the_journal_failed_is_refused_out_of_service() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.feed(JournalFailed(code="journal-io", detail=""))
    effects = k.answer(allowed=True, due=DUE)
    assert Beep("error") in effects and not any(isinstance(e, RecordTxn) for e in effects)
    assert Log("info", "loan.refused", {"reason": "out_of_service"}) in effects
    (line,) = k.state.lines
    assert (line.status, line.reason_code) == ("refused", "out_of_service")
    assert line.message is not None


def test_a_refused_renewal_beeps_and_logs_under_renew() -> None:
    k = reader(loans=(BOOK,))
    k.feed(Press("renew"))
    effects = k.answer(allowed=False, reason_code="renew_limit")
    assert effects[:2] == (Beep("error"), Log("info", "renew.refused", {"reason": "renew_limit"}))
    (line,) = k.state.lines
    assert (line.kind, line.status, line.reason_code) == ("renew", "refused", "renew_limit")


def test_renew_queues_each_loan_once_with_its_title_and_due_date() -> None:
    k = reader(loans=(BOOK, BOOK2))
    k.feed(Press("renew"))
    lines = {x.barcode: x for x in k.state.lines}
    assert set(lines) == {BOOK, BOOK2}
    assert (lines[BOOK2].title, lines[BOOK2].due, lines[BOOK2].status) == (f"Title {BOOK2}", DUE, "queued")
    k.answer(allowed=True, due=DUE)
    k.feed(Press("renew"))  # both are listed already: nothing new is queued
    assert sorted(x.barcode for x in k.state.lines if x.kind == "renew") == sorted([BOOK, BOOK2])


def test_renew_with_the_link_down_warns_and_needs_the_hub() -> None:
    k = reader(loans=(BOOK,))
    k.feed(LinkChanged(False))
    assert k.feed(Press("renew")) == (Beep("warn"),)
    assert k.view.notice == "notice.renew_needs_hub"


def test_an_offline_loan_is_recorded_with_its_due_date_logged_and_counted() -> None:
    k = offline_reader(offline_loan_days=14)
    k.feed(LinkChanged(False))  # known down: decided at once
    effects = k.feed(BarcodeRead(BOOK))
    due = WALL + timedelta(days=14)
    assert effects[-3:] == (
        RecordTxn("loan", BOOK, CARD, due, None, "offline"),
        Beep("ok"),
        Log("info", "loan.offline", {"item": BOOK}),
    )
    (line,) = k.state.lines
    assert (line.status, line.due, line.mode) == ("offline_loaned", due, "offline")
    assert k.state.offline_loans == 1
    assert k.view.items_left == 2


def test_a_loan_timing_out_after_the_journal_failed_is_refused_not_lent_offline() -> None:
    k = offline_reader()
    k.feed(BarcodeRead(BOOK))
    k.feed(JournalFailed(code="journal-io", detail=""))
    effects = k.time_out()
    assert not any(isinstance(e, RecordTxn) for e in effects)
    assert Log("info", "loan.refused", {"reason": "out_of_service"}) in effects
    (line,) = k.state.lines
    assert (line.status, line.reason_code) == ("refused", "out_of_service")
    assert line.message is not None


# ---- the receipt ----


HOLD = Bilingual(zh="这本书已经为别的读者预约保留，现在不能借。",
                en="This book is being kept for another reader who reserved it.")


def visit() -> CoreHarness:
    """A reader who borrows one book, is refused one, renews one and returns one."""
    k = reader(CoreConfig(kiosk_id="k7", library_id="capital", institution_members=MEMBERS),
               loans=(BOOK2,))
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE, title="Moby")
    k.feed(BarcodeRead(OURS))
    # the hub names a book it refuses (hub/worker/answers.py checkout_auth)
    k.answer(allowed=False, reason_code="item_on_hold", message=HOLD, title="活着 / 余华 著")
    k.feed(Press("renew"))
    k.answer(allowed=True, due=datetime(2030, 3, 1, tzinfo=UTC))
    k.feed(Press("return"))
    drop(k, XICHENG)
    k.answer(route="transfer", route_library="xicheng")
    k.feed(BookPassed(at=2.0, transit_ms=300), Press("borrow"))
    return k


def test_the_receipt_says_what_was_done_book_by_book_with_the_card_masked() -> None:
    """The library by its name, each book by barcode and title, a refusal with its reason."""
    k = visit()
    effects = k.feed(Press("finish"))
    zh = (
        "首都图书馆联盟",
        "馆: 首都图书馆  机: k7",
        "读者证: 0101******345",
        f"{BOOK} Moby: 借出 应还 2030-02-01",
        f"{OURS} 活着 / 余华 著: 未办理 — 这本书已经为别的读者预约保留，现在不能借。",
        f"{BOOK2} Title {BOOK2}: 续借 应还 2030-03-01",
        f"{XICHENG}: 已还",
    )
    assert k.view.receipt_lines == zh
    assert PrintReceipt(zh) in effects
    assert Log("info", "session.finish", {"items": 3}) in effects
    k.feed(Press("lang"))
    assert k.view.receipt_lines == (
        "Capital Library Alliance",
        "Library: Capital Library of China  Kiosk: k7",
        "Card: 0101******345",
        f"{BOOK} Moby: loaned, due 2030-02-01",
        f"{OURS} 活着 / 余华 著: not done — This book is being kept for another reader who reserved it.",
        f"{BOOK2} Title {BOOK2}: renewed, due 2030-03-01",
        f"{XICHENG}: returned",
    )


def test_a_refused_line_the_hub_did_not_name_keeps_its_barcode_and_reason_on_the_receipt() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    k.feed(BarcodeRead(OURS))
    k.answer(allowed=False, reason_code="item_on_hold", message=HOLD)
    k.feed(BarcodeRead(BOOK2))
    k.answer(allowed=False, reason_code="martian")  # a code with no words of anyone's
    k.feed(Press("finish"))
    assert k.view.receipt_lines[-2:] == (
        f"{OURS}: 未办理 — 这本书已经为别的读者预约保留，现在不能借。",
        f"{BOOK2}: 未办理 (martian)",
    )


def test_a_library_the_alliance_does_not_list_is_shown_by_its_id_on_the_receipt() -> None:
    k = reader(CoreConfig(kiosk_id="k1", library_id="moon-branch"))
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    k.feed(Press("finish"))
    assert k.view.receipt_lines[1] == "馆: moon-branch  机: k1"


def test_a_return_still_being_checked_at_finish_is_on_the_receipt_as_such() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    k.feed(Press("return"))
    drop(k, OURS)  # the hub has not answered its route yet
    k.feed(Press("finish"))
    assert k.view.receipt_lines[-1] == f"{OURS}: 处理中"


def test_an_offline_receipt_says_loaned_offline() -> None:
    k = offline_reader(kiosk_id="k7", library_id="capital", offline_loan_days=14)
    k.feed(LinkChanged(False), Press("lang"), BarcodeRead(BOOK), Press("finish"))
    assert k.view.receipt_lines[-1] == f"{BOOK}: loaned offline, due 2030-01-15"


def test_finish_with_only_refusals_prints_nothing_and_logs_none_done() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=False, reason_code="item_on_hold")
    effects = k.feed(Press("finish"))
    assert not any(isinstance(e, PrintReceipt) for e in effects)
    assert Log("info", "session.finish", {"items": 0}) in effects
    assert k.view.screen == "summary"


def test_finish_waits_while_a_book_is_still_queued_or_checked() -> None:
    k = reader(loans=(BOOK, BOOK2))
    k.feed(Press("renew"))  # one renewal in flight, one queued behind it
    assert k.feed(Press("finish")) == ()
    assert (k.view.screen, k.view.notice) == ("borrow", "notice.please_wait")
    k.answer(allowed=True, due=DUE)
    assert k.feed(Press("finish")) == ()
    k.answer(allowed=True, due=DUE)
    assert any(isinstance(e, PrintReceipt) for e in k.feed(Press("finish")))


# ---- desk and chute scans that make no loan or return ----


def test_a_desk_scan_on_the_summary_or_before_the_pin_warns_and_lists_nothing() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    k.feed(Press("finish"))
    assert k.feed(BarcodeRead(BOOK2)) == (Beep("warn"),)
    assert (k.view.screen, k.view.notice) == ("summary", "notice.tap_card_first")
    assert [x.barcode for x in k.state.lines] == [BOOK]
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=True)
    assert k.feed(BarcodeRead(BOOK)) == (Beep("warn"),)
    assert k.view.notice == "notice.enter_pin_first"


def test_the_same_book_scanned_while_on_the_list_warns_once_and_asks_nothing() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    assert k.feed(BarcodeRead(BOOK)) == (Beep("warn"),)
    # named by its barcode while the hub has not told its title, by its title after
    assert (k.view.notice, k.view.notice_args) == ("notice.already_scanned", (("book", BOOK),))
    k.answer(allowed=True, due=DUE, title="Moby")
    k.feed(BarcodeRead(BOOK))
    assert (k.view.notice, k.view.notice_args) == ("notice.already_scanned", (("book", "Moby"),))


def test_a_bad_label_scanned_twice_stays_one_refused_line() -> None:
    k = reader()
    k.feed(BarcodeRead("9780306406157"), BarcodeRead("9780306406157"))
    assert [(x.barcode, x.status, x.reason_code) for x in k.state.lines] == [
        ("9780306406157", "refused", "not_an_item"),
    ]


def test_a_refused_book_scanned_again_and_lent_keeps_no_old_reason() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=False, reason_code="item_on_hold", message=NO)
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    (line,) = k.state.lines
    assert (line.status, line.reason_code, line.message) == ("loaned", None, None)


def test_a_returns_only_reader_is_refused_each_loan_with_the_hubs_words() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, allowed=False, reason_code="scheme_not_accepted",
             message=NO)
    k.feed(BarcodeRead(BOOK), BarcodeRead(BOOK))
    (line,) = k.state.lines
    assert (line.status, line.reason_code, line.message) == (
        "refused", "scheme_not_accepted", Text(NO.zh, NO.en),
    )


def test_a_chute_scan_while_returns_are_paused_or_of_no_item_is_only_logged() -> None:
    k = chute_kiosk()
    effects = k.feed(BookEntered(1.0), BarcodeRead("9780306406157", source="chute"))
    assert effects == (Log("info", "return.barcode_ignored", {"kind": "ean13"}),)
    assert k.state.lines == ()
    k.feed(JournalFailed(code="journal-io", detail=""))
    effects = k.feed(BarcodeRead(OURS, source="chute"))
    assert effects == (Log("info", "return.paused", {}),)
    assert k.view.notice == "notice.returns_paused"


def test_a_chute_book_is_listed_as_a_return_being_checked() -> None:
    k = chute_kiosk()
    drop(k, OURS)
    assert [(x.kind, x.barcode, x.status) for x in k.state.lines] == [("return", OURS, "checking")]
    assert k.last_request().request.item == OURS


# ---- the hub's answers to a checkout, and lending with no answer ----


def test_a_checkout_the_hub_could_not_answer_or_refused_without_a_reason_is_refused() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(ok=False)
    assert Log("info", "loan.refused", {"reason": "hub_error"}) in effects
    k.feed(BarcodeRead(BOOK2))
    k.answer(allowed=False)
    assert [(x.barcode, x.status, x.reason_code) for x in k.state.lines] == [
        (BOOK, "refused", "hub_error"), (BOOK2, "refused", "refused"),
    ]


def test_a_reader_on_the_cached_blocklist_gets_no_offline_loan() -> None:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=5)
    k.feed(BlocklistUpdated(frozenset({blocklist_hash("00ff", "bj-joint", JOINT)}), salt="00ff"))
    k.feed(BarcodeRead(BOOK))
    effects = k.time_out()
    assert Log("info", "loan.refused", {"reason": "offline_not_allowed"}) in effects
    (line,) = k.state.lines
    assert (line.status, line.reason_code) == ("refused", "offline_not_allowed")
    assert line.message is not None


def test_offline_loans_count_down_the_allowance_the_hub_gave_and_stop_at_zero() -> None:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital", offline_max_items=5))
    k.wait(0.25, wall=WALL)
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=2)
    k.feed(LinkChanged(False))
    k.feed(BarcodeRead(BOOK))
    assert k.state.reader is not None and k.state.reader.items_left == 1
    k.feed(BarcodeRead(BOOK2))
    assert k.state.reader.items_left == 0
    k.feed(BarcodeRead(OURS))
    assert [(x.status, x.reason_code) for x in k.state.lines] == [
        ("offline_loaned", None), ("offline_loaned", None), ("refused", "limit_reached"),
    ]


def test_no_auto_logout_while_a_checkout_is_in_flight_and_it_comes_once_answered() -> None:
    config = CoreConfig(kiosk_id="k1", library_id="capital", inactivity_logout_s=10.0,
                        institution_members=MEMBERS)
    k = CoreHarness(config)
    k.wait(0.25)
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=5)
    k.feed(BarcodeRead(BOOK))
    k.wait(15)
    assert k.view.screen == "borrow"  # waiting for the checkout's answer
    k.answer(allowed=True, due=DUE)
    effects = k.wait(10.25)
    assert k.view.screen == "attract"
    assert Log("info", "session.auto_logout", {"reader": True}) in effects
