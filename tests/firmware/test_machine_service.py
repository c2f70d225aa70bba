"""Technician screen, self-test, maintenance (touch and hub command), device faults,
journal failures, LEDs."""

from __future__ import annotations

from contract.barcodes import make_item_barcode
from contract.messages import Ack
from contract.screens import PinEntered, Press
from drivers.diagnostics import DiagResult
from drivers.events import BarcodeRead, BookPassed, CardPresented, DeviceFault, DeviceRecovered
from firmware.core.effects import (
    CommandResult,
    Led,
    PublishState,
    RecordTxn,
    RunSelfTest,
    SendRequest,
)
from firmware.core.events import (
    CommandReceived,
    JournalDepth,
    JournalFailed,
    LinkChanged,
    SelfTestDone,
    TxnAcked,
)
from firmware.view import DeviceLine
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
STAFF = "88000000011"
UID = b"\x01\x02\x03\x04"


def technician() -> CoreHarness:
    k = CoreHarness()
    k.feed(LinkChanged(True), CardPresented(uid=UID, data=STAFF.encode()))
    k.answer(state="valid", scheme="staff")
    k.feed(PinEntered("2468"))
    k.answer(pin_ok=True)
    return k


def test_technician_view_shows_link_journal_and_faults() -> None:
    k = technician()
    k.feed(JournalDepth(pending=7, oldest_pending_s=12.5))
    k.feed(DeviceFault(device="scanner", code="scanner-unplugged", hint="plug it"))
    tech = k.view.technician
    assert tech is not None
    assert (tech.journal_pending, tech.journal_oldest_pending_s) == (7, 12.5)
    assert tech.hub_link == "online"
    assert tech.recent_faults == ("scanner:scanner-unplugged",)
    assert tech.maintenance is False


def test_selftest_press_runs_selftest_and_shows_devices() -> None:
    k = technician()
    effects = k.feed(Press("selftest"))
    assert RunSelfTest(None) in effects
    assert k.view.technician.selftest_running
    results = (DiagResult.passed("card_reader"), DiagResult.fault("chute", "beam-stuck"))
    effects = k.feed(SelfTestDone(results))
    tech = k.view.technician
    assert not tech.selftest_running
    assert tech.devices[1] == DeviceLine("chute", False, "beam-stuck", results[1].hint, "")
    assert not any(isinstance(e, CommandResult) for e in effects)


def test_hub_selftest_command_is_answered_with_command_result() -> None:
    k = CoreHarness()
    assert RunSelfTest("c1") in k.feed(CommandReceived("selftest", "c1"))
    effects = k.feed(SelfTestDone((DiagResult.passed("scanner"),), cmd_id="c1"))
    [result] = [e for e in effects if isinstance(e, CommandResult)]
    assert (result.cmd_id, result.ok) == ("c1", True)
    assert result.detail["devices"][0]["device"] == "scanner"


def test_maintenance_from_technician_screen_shows_the_maintenance_screen_to_readers() -> None:
    """Maintenance is its own screen, not a fault code on the out-of-service screen."""
    k = technician()
    effects = k.feed(Press("maintenance_on"))
    assert PublishState("maintenance") in effects
    assert k.view.screen == "technician"
    assert k.view.technician.maintenance
    k.feed(Press("cancel"))
    assert k.view.screen == "maintenance"
    assert k.view.out_of_service_code is None


def test_maintenance_command_from_hub_and_back() -> None:
    k = CoreHarness()
    effects = k.feed(CommandReceived("maintenance_on", "m1"))
    assert PublishState("maintenance") in effects
    assert CommandResult("m1", True, {"maintenance": True}) in effects
    assert k.view.screen == "maintenance"
    effects = k.feed(CommandReceived("maintenance_off", "m2"))
    assert PublishState("online") in effects
    assert k.view.screen == "attract"


def test_reader_card_in_maintenance_gets_nowhere() -> None:
    k = CoreHarness()
    k.feed(CommandReceived("maintenance_on", "m1"))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False)
    assert k.view.screen == "maintenance"
    assert k.state.reader is None


def test_staff_card_gets_in_during_maintenance() -> None:
    k = CoreHarness()
    k.feed(CommandReceived("maintenance_on", "m1"), CardPresented(uid=UID, data=STAFF.encode()))
    k.answer(state="valid", scheme="staff")
    assert k.view.screen == "pin"
    k.feed(PinEntered("2468"))
    k.answer(pin_ok=True)
    assert k.view.screen == "technician"


def test_unknown_command_is_answered_unsupported() -> None:
    k = CoreHarness()
    [result] = k.feed(CommandReceived("reload_config", "r1"))
    assert result == CommandResult("r1", False, {"error": "unsupported", "cmd": "reload_config"})


def test_maintenance_is_republished_when_link_comes_back() -> None:
    k = CoreHarness()
    k.feed(CommandReceived("maintenance_on", "m1"))
    assert PublishState("maintenance") in k.feed(LinkChanged(True))


def test_card_reader_fault_leaves_returns_working_and_says_so() -> None:
    k = CoreHarness()
    k.feed(DeviceFault(device="card_reader", code="reader-silent", hint="check SPI"))
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.card_reader_down_returns_only"
    effects = k.feed(BarcodeRead(make_item_barcode("0002", 1), source="chute"))
    assert any(isinstance(e, SendRequest) for e in effects)


def test_card_reader_and_chute_down_is_out_of_service_with_reader_code() -> None:
    k = CoreHarness()
    k.feed(DeviceFault(device="card_reader", code="reader-silent", hint=""))
    k.feed(DeviceFault(device="chute", code="beam-dead", hint=""))
    assert k.view.screen == "out_of_service"
    assert k.view.out_of_service_code == "reader-silent"
    k.feed(DeviceRecovered(device="card_reader"))
    assert k.view.screen == "attract"


def test_scanner_fault_shows_notice_on_borrow_screen() -> None:
    k = CoreHarness()
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False)
    k.feed(DeviceFault(device="scanner", code="scanner-unplugged", hint=""))
    assert k.view.notice == "notice.scanner_down"


def test_journal_failure_is_out_of_service_and_nothing_more_is_recorded() -> None:
    k = CoreHarness()
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", pin_required=False)
    k.feed(BarcodeRead(make_item_barcode("0002", 1)))
    k.feed(JournalFailed(code="journal-disk-full", detail="ENOSPC"))
    assert k.view.screen == "out_of_service"
    assert k.view.out_of_service_code == "journal-disk-full"
    k.answer(allowed=True)
    k.feed(BarcodeRead(make_item_barcode("0002", 5), source="chute"), BookPassed(1.0, 100))
    assert not k.records()
    assert not any(isinstance(e, RecordTxn) for e in k.effects)


def test_led_follows_link_busy_and_fault() -> None:
    k = CoreHarness()
    assert k.state.led == "offline"
    assert Led("idle") in k.feed(LinkChanged(True))
    assert Led("busy") in k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    assert Led("idle") in k.answer(state="valid", pin_required=False)
    assert Led("fault") in k.feed(JournalFailed(code="journal-io", detail=""))


def test_rejected_ack_is_logged() -> None:
    k = CoreHarness()
    [log] = k.feed(TxnAcked("t" * 12, Ack(txn_id="t" * 12, result="rejected", reason="dup")))
    assert log.event == "txn.rejected"


def test_unknown_event_is_ignored() -> None:
    k = CoreHarness()
    before = k.state
    k.feed(object())
    assert k.state == before
