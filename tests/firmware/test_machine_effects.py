"""What each event makes the kiosk do, in full: the sound the reader hears, the call to
staff, and the line the technician finds in the kiosk's log (level, event, fields)."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.barcodes import make_item_barcode
from contract.messages import Ack, LoanLine, Response
from contract.screens import PinEntered, Press
from drivers.diagnostics import DiagResult
from drivers.events import (
    BarcodeRead,
    BarcodeRejected,
    BookEntered,
    BookPassed,
    BookPulledBack,
    CardPresented,
    CardRemoved,
    ChuteCleared,
    ChuteJammed,
    DeviceFault,
    DeviceRecovered,
    MultipleCards,
)
from firmware.core.config import CoreConfig
from firmware.core.effects import (
    Beep,
    CallStaff,
    CommandResult,
    Log,
    PublishState,
    RecordTxn,
    RunSelfTest,
    SetDiverter,
)
from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    HubAnswered,
    JournalFailed,
    LinkChanged,
    SelfTestDone,
    TxnAcked,
)
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
STAFF = "88000000011"
UID = b"\x01\x02\x03\x04"
BOOK = make_item_barcode("0002", 1)
BOOK2 = make_item_barcode("0002", 2)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)


def logs(effects: tuple) -> list[Log]:
    return [e for e in effects if isinstance(e, Log)]


def without_logs(effects: tuple) -> list[object]:
    return [e for e in effects if not isinstance(e, Log)]


def reader(k: CoreHarness | None = None, loans: tuple[str, ...] = ()) -> CoreHarness:
    k = k or CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    lines = [LoanLine(item=b, title=f"Title {b}", due=DUE) for b in loans]
    k.answer(state="valid", pin_required=False, loans=lines, items_left=5)
    return k


def technician() -> CoreHarness:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=STAFF.encode()))
    k.answer(state="valid", scheme="staff")
    k.feed(PinEntered("2468"))
    k.answer(pin_ok=True)
    assert k.view.screen == "technician"
    return k


# ---- the chute ----


def test_a_jam_beeps_calls_staff_and_logs_the_beam_once_then_clearing_logs_it() -> None:
    k = CoreHarness()
    effects = k.feed(ChuteJammed(beam="exit", blocked_s=4.5))
    assert without_logs(effects)[:2] == [Beep("error"), CallStaff("chute-jammed")]
    assert logs(effects) == [Log("warning", "chute.jammed", {"beam": "exit", "blocked_s": 4.5})]
    assert k.view.screen == "out_of_service"
    assert k.feed(ChuteJammed(beam="exit", blocked_s=9.0)) == ()  # still the same jam
    effects = k.feed(ChuteCleared())
    assert logs(effects) == [Log("info", "chute.cleared", {})]
    assert k.view.screen != "out_of_service"
    assert CallStaff("chute-jammed") in k.feed(ChuteJammed(beam="entry", blocked_s=3.5))


def test_a_book_pulled_back_is_forgotten_and_logged_by_its_barcode() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True), BookEntered(1.0), BarcodeRead(BOOK, source="chute"))
    k.feed(BookEntered(2.0), BarcodeRead(BOOK2, source="chute"))
    assert [i.barcode for i in k.view.items] == [BOOK, BOOK2]
    effects = k.feed(BookPulledBack(at=3.0))
    assert logs(effects) == [Log("info", "return.taken_back", {"item": BOOK})]
    assert [i.barcode for i in k.view.items] == [BOOK2]
    # named by its barcode: the hub had not told its title yet
    assert (k.view.notice, k.view.notice_args) == ("notice.book_taken_back_named", (("book", BOOK),))


def test_a_book_pulled_back_from_an_empty_chute_only_says_so() -> None:
    k = CoreHarness()
    assert k.feed(BookPulledBack(at=1.0)) == ()
    assert k.view.notice == "notice.book_taken_back"


def test_an_unreadable_chute_label_is_only_logged_and_a_desk_one_warns_the_reader() -> None:
    k = CoreHarness()
    before = k.view
    effects = k.feed(BarcodeRejected(reason="overlong", length=90, source="chute"))
    assert effects == (Log("info", "chute.barcode_rejected", {"reason": "overlong"}),)
    assert k.view == before
    assert k.feed(BarcodeRejected(reason="empty", length=0)) == (Beep("warn"),)
    assert k.view.notice == "notice.barcode_unreadable"


# ---- cards and scans ----


def test_two_cards_at_once_warn_and_ask_for_one() -> None:
    k = CoreHarness()
    assert k.feed(MultipleCards()) == (Beep("warn"),)
    assert k.view.notice == "notice.one_card_at_a_time"


def test_a_refused_card_beeps_and_logs_its_state_not_its_number() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    effects = k.answer(state="blocked")
    assert Beep("error") in effects
    assert logs(effects) == [Log("info", "card.refused", {"state": "blocked"})]
    assert k.view.notice == "notice.card_refused"
    effects = k.feed(CardPresented(uid=b"\x09\x09\x09\x09", data=JOINT.encode()))
    k.answer(state=None)
    assert logs(k.last) == [Log("info", "card.refused", {"state": "unknown"})]


def test_a_bad_label_and_a_refused_loan_beep_and_log_why() -> None:
    k = reader()
    effects = k.feed(BarcodeRead("not-a-barcode"))
    assert effects == (Beep("error"), Log("info", "borrow.bad_barcode", {"reason": "bad_barcode"}))
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=False, reason_code="item_on_hold")
    assert Beep("error") in effects
    assert Log("info", "loan.refused", {"reason": "item_on_hold"}) in effects
    assert [(i.barcode, i.status) for i in k.view.items][-1] == (BOOK, "refused")


# ---- the returns screen's buttons ----


def test_on_the_returns_screen_a_reader_goes_back_to_borrowing_and_finish_ends_the_visit() -> None:
    k = reader()
    k.feed(Press("return"))
    assert k.view.screen == "returns"
    k.feed(Press("borrow"))
    assert k.view.screen == "borrow"
    k.feed(Press("return"), Press("cancel"))
    assert k.view.screen == "borrow"
    k.feed(Press("return"), Press("finish"))
    assert k.view.screen in ("summary", "attract")
    assert k.view.screen != "returns"


def test_on_the_returns_screen_without_a_reader_borrow_asks_for_a_card_and_cancel_leaves() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True), Press("return"))
    assert k.view.screen == "returns"
    assert k.feed(Press("borrow")) == ()
    assert (k.view.screen, k.view.notice) == ("returns", "notice.tap_card_first")
    k.feed(Press("finish"))
    assert k.view.screen == "attract"
    k.feed(Press("return"), Press("cancel"))
    assert k.view.screen == "attract"
    k.feed(Press("return"))
    assert k.feed(Press("renew")) == ()
    assert k.view.screen == "returns"


# ---- help ----


def test_help_logs_the_screen_it_was_asked_from_and_goes_back_there() -> None:
    k = reader()
    effects = k.feed(Press("help"))
    assert CallStaff("help") in effects
    assert logs(effects) == [Log("info", "help.requested", {"screen": "borrow"})]
    assert k.feed(Press("help")) == ()  # asked already
    k.feed(Press("cancel"))
    assert k.view.screen == "borrow"


# ---- technician, self-test, maintenance ----


def test_a_self_test_from_the_screen_and_from_the_hub_are_logged_apart() -> None:
    k = technician()
    effects = k.feed(Press("selftest"))
    assert effects == (RunSelfTest(None), Log("info", "selftest.start", {"remote": False}))
    ok = DiagResult(device="scanner", ok=True, code=None, hint="")
    bad = DiagResult(device="chute", ok=False, code="beam-stuck", hint="clean the beam")
    effects = k.feed(SelfTestDone((ok, bad)))
    assert effects == (Log("info", "selftest.done", {"ok": False}),)
    assert not k.view.technician.selftest_running
    effects = k.feed(CommandReceived(cmd="selftest", cmd_id="c1"))
    assert effects == (RunSelfTest("c1"), Log("info", "selftest.start", {"remote": True}))
    effects = k.feed(SelfTestDone((ok,), cmd_id="c1"))
    assert effects == (
        Log("info", "selftest.done", {"ok": True}),
        CommandResult("c1", True, {"devices": [ok.as_json()]}),
    )


def test_maintenance_from_the_technician_screen_publishes_and_logs_each_change_once() -> None:
    k = technician()
    effects = k.feed(Press("maintenance_on"))
    assert without_logs(effects) == [PublishState("maintenance")]
    assert logs(effects) == [Log("info", "maintenance", {"on": True})]
    assert k.feed(Press("maintenance_on")) == ()
    effects = k.feed(Press("maintenance_off"))
    assert without_logs(effects) == [PublishState("online")]
    assert logs(effects) == [Log("info", "maintenance", {"on": False})]
    effects = k.feed(Press("finish"))
    assert Log("info", "technician.logout", {}) in effects
    assert k.view.screen == "attract"


def test_the_technician_leaves_with_cancel_too_and_other_buttons_do_nothing() -> None:
    k = technician()
    assert k.feed(Press("renew")) == ()
    assert k.view.screen == "technician"
    assert Log("info", "technician.logout", {}) in k.feed(Press("cancel"))
    assert k.view.screen == "attract"


# ---- devices ----


def test_a_device_fault_is_logged_and_its_recovery_clears_only_that_device() -> None:
    k = technician()
    effects = k.feed(DeviceFault(device="scanner", code="scanner-unplugged", hint="plug it"))
    assert logs(effects) == [
        Log("warning", "device.fault", {"device": "scanner", "code": "scanner-unplugged"})
    ]
    k.feed(DeviceFault(device="printer", code="printer-paper-out", hint="add paper"))
    k.feed(DeviceFault(device="scanner", code="scanner-silent", hint="check it"))
    assert k.state.service.faults == (("printer", "printer-paper-out"), ("scanner", "scanner-silent"))
    assert k.state.service.fault_hints == (("printer", "add paper"), ("scanner", "check it"))
    effects = k.feed(DeviceRecovered(device="scanner"))
    assert logs(effects) == [Log("info", "device.recovered", {"device": "scanner"})]
    assert k.state.service.faults == (("printer", "printer-paper-out"),)
    assert k.state.service.fault_hints == (("printer", "add paper"),)
    assert k.view.technician.recent_faults == (
        "scanner:scanner-unplugged", "printer:printer-paper-out", "scanner:scanner-silent",
    )


# ---- the hub's acks and blocklist ----


def test_a_rejected_ack_is_logged_with_its_id_and_reason_and_a_committed_one_is_silent() -> None:
    k = CoreHarness()
    txn = "t" * 12
    effects = k.feed(TxnAcked(txn, Ack(txn_id=txn, result="rejected", reason="dup")))
    assert effects == (Log("warning", "txn.rejected", {"txn_id": txn, "reason": "dup"}),)
    assert k.feed(TxnAcked(txn, Ack(txn_id=txn, result="committed"))) == ()


def test_a_blocklist_update_is_kept_and_logged_by_its_size() -> None:
    k = CoreHarness()
    effects = k.feed(BlocklistUpdated(frozenset({"a", "b"}), offline_max_items=3, salt="s1"))
    assert effects == (Log("info", "blocklist.updated", {"cards": 2}),)
    assert k.state.blocked_hashes == frozenset({"a", "b"})
    assert (k.state.blocklist_salt, k.state.blocklist_max_items) == ("s1", 3)


# ---- the journal failing ----


def test_a_journal_failure_logs_the_code_and_detail_and_calls_staff() -> None:
    k = CoreHarness()
    effects = k.feed(JournalFailed(code="journal-io", detail="EIO"))
    assert logs(effects) == [Log("error", "journal.failed", {"code": "journal-io", "detail": "EIO"})]
    assert CallStaff("journal-io") in effects
    assert k.view.out_of_service_code == "journal-io"


def test_a_loan_the_journal_could_not_keep_is_shown_not_done_and_the_others_stay() -> None:
    k = reader()
    for book in (BOOK, BOOK2):
        k.feed(BarcodeRead(book))
        k.answer(allowed=True, due=DUE)
    assert [i.status for i in k.view.items] == ["loaned", "loaned"]
    effects = k.feed(JournalFailed(code="journal-disk-full", detail="full",
                                   failed_kind="loan", failed_item=BOOK2))
    assert not any(isinstance(e, SetDiverter) for e in effects)  # a loan has no chute
    assert [(i.barcode, i.status) for i in k.view.items] == [(BOOK, "loaned"), (BOOK2, "refused")]
    assert k.state.lines[-1].reason_code == "out_of_service"
    assert k.state.lines[-1].message is not None


def test_a_return_the_journal_could_not_keep_goes_to_the_hold_bin_first() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True), BookEntered(1.0), BarcodeRead(BOOK, source="chute"))
    k.answer(route="shelve")
    k.feed(BookPassed(at=2.0, transit_ms=200))
    assert [(i.barcode, i.status) for i in k.view.items] == [(BOOK, "returned")]
    effects = k.feed(JournalFailed(code="journal-io", detail="EIO",
                                   failed_kind="return", failed_item=BOOK))
    assert effects[0] == SetDiverter("hold")
    assert [(i.barcode, i.status) for i in k.view.items] == [(BOOK, "refused")]


def test_a_journal_failure_naming_another_row_leaves_every_line_as_it_was() -> None:
    for kind, item in (("return", BOOK), ("loan", BOOK2), (None, None)):
        k2 = reader()
        k2.feed(BarcodeRead(BOOK))
        k2.answer(allowed=True, due=DUE)
        effects = k2.feed(JournalFailed(code="journal-io", detail="", failed_kind=kind,
                                        failed_item=item))
        assert [(i.barcode, i.status) for i in k2.view.items] == [(BOOK, "loaned")], kind
        assert not any(isinstance(e, SetDiverter) for e in effects)


# ---- PIN answers, cards leaving, the link going down ----


def pin_reader() -> CoreHarness:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=True)
    k.feed(PinEntered("135790"))
    return k


def test_a_pin_answer_the_hub_could_not_give_asks_to_try_again_on_the_pin_screen() -> None:
    k = pin_reader()
    effects = k.answer(ok=False)
    assert without_logs(effects)[0] == Beep("error")
    assert (k.view.screen, k.view.notice) == ("pin", "notice.try_again")


def test_a_locked_pin_beeps_and_logs_the_lock() -> None:
    k = pin_reader()
    effects = k.answer(pin_ok=False, attempts_left=0)
    assert Beep("error") in effects
    assert logs(effects) == [Log("info", "pin.locked", {})]


def test_a_right_pin_brings_the_name_loans_and_allowance() -> None:
    k = pin_reader()
    loan = LoanLine(item=BOOK, title="Moby", due=DUE)
    k.answer(pin_ok=True, masked_name="王*明", loans=[loan], items_left=4, session_token="tok-0123456789abcdef")
    assert k.view.screen == "borrow"
    assert (k.view.reader_name, k.view.items_left) == ("王*明", 4)
    assert k.state.reader is not None and k.state.reader.loans == (loan,)
    assert k.state.reader.session_token == "tok-0123456789abcdef"


def test_taking_the_card_on_the_summary_ends_the_visit_and_elsewhere_keeps_it() -> None:
    k = reader()
    k.feed(CardRemoved(UID))
    assert k.view.screen == "borrow" and k.state.reader is not None
    assert k.state.card_uid is None
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False, items_left=5)
    k.feed(Press("finish"))
    assert k.view.screen == "summary"
    k.feed(CardRemoved(UID))
    assert (k.view.screen, k.state.reader, k.state.card_left_since) == ("attract", None, None)


def test_the_link_going_down_resolves_every_request_in_flight_at_once() -> None:
    k = reader()
    k.wait(0.25, wall=datetime(2030, 1, 1, 9, tzinfo=UTC))
    k.feed(Press("return"), BookEntered(1.0), BarcodeRead(BOOK2, source="chute"))
    k.feed(BookPassed(at=2.0, transit_ms=300))  # inside, its route still asked of the hub
    k.feed(Press("borrow"), BarcodeRead(BOOK))  # a checkout asked of the hub too
    effects = k.feed(LinkChanged(False))
    assert effects[0] == Log("warning", "link.down", {})
    kinds = sorted((e.kind, e.mode) for e in effects if isinstance(e, RecordTxn))
    assert kinds == [("loan", "offline"), ("return", "offline")]
    assert k.view.online is False


# ---- the machine's own rules: unknown events, inputs out of service, the LED ----


def test_an_unknown_event_is_logged_by_its_type_and_changes_nothing() -> None:
    k = CoreHarness()
    before = k.state
    assert k.feed(3.5) == (Log("debug", "core.unknown_event", {"type": "float"}),)
    assert k.state == before


def test_out_of_service_a_desk_input_is_only_logged_and_the_language_button_still_works() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True), JournalFailed(code="journal-io", detail=""))
    language = k.state.language
    for event in (Press("borrow"), BarcodeRead(BOOK), BarcodeRejected(reason="empty", length=0),
                  PinEntered("1234")):
        assert k.feed(event) == (
            Log("info", "input.out_of_service", {"type": type(event).__name__}),
        ), event
    k.feed(Press("lang"))
    assert k.state.language != language


def test_a_touch_or_a_desk_scan_clears_the_notice_but_the_language_button_and_the_chute_do_not() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True), Press("borrow"))
    assert k.view.notice == "notice.tap_card_first"
    k.feed(Press("lang"))
    assert k.view.notice == "notice.tap_card_first"
    k.feed(BookEntered(1.0), BarcodeRead(BOOK, source="chute"))
    assert k.view.notice is not None
    k2 = CoreHarness()
    k2.feed(LinkChanged(True), Press("borrow"), BarcodeRead(BOOK))
    assert k2.view.notice == "notice.tap_card_first"  # its own notice, said again
    k2.feed(Press("return"))
    assert k2.view.notice != "notice.tap_card_first"


def test_the_led_is_busy_while_a_pin_a_checkout_or_a_renewal_is_asked_of_the_hub() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    assert k.state.led == "busy"
    k.answer(state="valid", pin_required=True)
    assert k.state.led == "idle"
    k.feed(PinEntered("135790"))
    assert k.state.led == "busy"
    loan = LoanLine(item=BOOK2, title="Moby", due=DUE)
    k.answer(pin_ok=True, loans=[loan], items_left=3)
    assert k.state.led == "idle"
    k.feed(BarcodeRead(BOOK))
    assert k.state.led == "busy"
    k.answer(allowed=True, due=DUE)
    assert k.state.led == "idle"
    k.feed(Press("renew"))
    assert k.state.led == "busy"


def test_a_late_answer_is_logged_at_debug_by_its_id() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=JOINT.encode()))
    corr = k.last_request().corr_id
    k.time_out()
    assert k.feed(HubAnswered(corr, Response(state="valid"))) == (
        Log("debug", "hub.late_answer", {"corr_id": corr}),
    )


def test_a_request_timing_out_is_logged_with_its_purpose() -> None:
    k = reader()
    k.feed(BarcodeRead(BOOK))
    assert logs(k.time_out())[0] == Log("info", "hub.timeout", {"op": "checkout"})


def test_the_link_coming_up_is_logged_and_republishes_maintenance() -> None:
    k = technician()
    k.feed(Press("maintenance_on"), LinkChanged(False))
    effects = k.feed(LinkChanged(True))
    assert logs(effects) == [Log("info", "link.up", {})]
    assert PublishState("maintenance") in effects
    assert (k.state.broker_link, k.view.online) == ("up", True)
    k2 = CoreHarness()
    assert PublishState("maintenance") not in k2.feed(LinkChanged(True))
    assert k2.state.broker_link == "up"


def test_the_summary_ends_on_finish_or_cancel_and_ignores_other_buttons() -> None:
    for action in ("finish", "cancel"):
        k = reader()
        k.feed(BarcodeRead(BOOK))
        k.answer(allowed=True, due=DUE)
        k.feed(Press("finish"))
        assert k.view.screen == "summary"
        k.feed(Press("renew"))
        assert k.view.screen == "summary"
        k.feed(Press(action))
        assert (k.view.screen, k.state.reader, k.view.receipt_lines) == ("attract", None, ())
