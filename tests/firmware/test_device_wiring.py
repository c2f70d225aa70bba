"""The configured receipt printer and keyboard-mode scanners are built and wired: a
session's end prints the receipt (exact bytes on a printer on a pseudo-terminal), a
printer fault reaches the core's faults, telemetry and technician view while the
reader keeps the QR receipt, and a HID scanner's keystrokes become the core's scans.
These fail if `build_devices` or `build_kiosk` stop wiring them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import drivers.mfrc522_spi
from contract.barcodes import make_item_barcode
from contract.messages import Response
from contract.screens import Press
from drivers.events import BarcodeRead, CardPresented
from drivers.hid_scanner import HidScanner
from drivers.receipt_printer import SerialPrinterLink, layout
from drivers.scanner import BarcodeScanner
from firmware.assembly import Kiosk, build_kiosk
from firmware.config import KioskConfig, load_config
from firmware.devices import build_devices
from firmware.hardware import pi_transports
from firmware.runtime import KioskRuntime
from hal_sim.printer_pty import SimulatedPrinter
from kiosk_tools.simulated import sim_rig
from tests.drivers.test_hid_scanner import RecordedDevice, keys

JOINT = "0101000012345"
BOOK = make_item_barcode("0002", 1)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)


class AnsweringHub:
    """The hub link, answering as the hub would: a valid reader, every loan allowed."""

    def __init__(self, runtime: KioskRuntime) -> None:
        self.runtime = runtime

    def request(self, corr_id: str, request_model: object) -> None:
        op = getattr(request_model, "op", "")
        if op == "reader_lookup":
            answer = Response(state="valid", scheme="bj-joint", masked_name="王*明",
                              pin_required=False, loans=[], items_left=5)  # fmt: skip
        else:
            answer = Response(allowed=True, due=DUE, title="平凡的世界", items_left=4)
        from firmware.core.events import HubAnswered

        self.runtime.post(HubAnswered(corr_id, answer))

    def notify_new_txn(self) -> None:
        pass

    def publish_state(self, state: str) -> None:
        pass

    def publish_command_result(self, result: object) -> None:
        pass


def play(runtime: KioskRuntime, *events: object) -> None:
    """Step each event and all that it makes others post, on this thread."""
    for event in (*events, None):
        if event is not None:
            runtime.handle(event)
        while not runtime.events.empty():
            runtime.handle(runtime.events.get_nowait())


@pytest.fixture
def printer() -> Iterator[SimulatedPrinter]:
    with SimulatedPrinter() as sim:
        yield sim


def kiosk_with_printer(tmp_path: Path, sim: SimulatedPrinter) -> Kiosk:
    config = load_config(
        None,
        {
            "journal.path": str(tmp_path / "journal.sqlite3"),
            "devices.printer.kind": "serial",
            "devices.printer.port": sim.port,
        },
    )
    rig = sim_rig(config)
    rig.transports.printer = SerialPrinterLink(sim.port)  # what pi_transports names on a Pi
    kiosk = build_kiosk(config, rig.transports, rig=rig)
    kiosk.runtime.link = AnsweringHub(kiosk.runtime)
    assert kiosk.runtime.devices.printer is not None, "the configured printer is not built"
    kiosk.runtime.devices.printer.status_timeout_s = 0.3
    kiosk.runtime.devices.printer.start()
    return kiosk


def borrow_one_book_and_finish(runtime: KioskRuntime) -> None:
    play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    play(runtime, BarcodeRead(BOOK), Press("finish"))
    assert runtime.view.screen == "summary"


def close(kiosk: Kiosk) -> None:
    kiosk.runtime.devices.close()
    kiosk.journal.close()


def test_a_session_ends_with_its_receipt_printed_in_gb18030(tmp_path: Path, printer) -> None:
    kiosk = kiosk_with_printer(tmp_path, printer)
    try:
        runtime = kiosk.runtime
        borrow_one_book_and_finish(runtime)
        lines = runtime.view.receipt_lines
        assert any(BOOK in line for line in lines)
        assert runtime.devices.printer is not None
        assert runtime.devices.printer.wait_idle(3)
        assert printer.wait_for(b"\x1dV\x01")
        [job] = printer.jobs()
        assert job == (
            b"\x1b@"  # ESC @: initialise
            + b"\x1c&"  # FS &: Chinese characters
            + layout(lines, 32).encode("gb18030")
            + b"\x1bd\x04\x1dV\x01"  # feed 4 lines, partial cut
        )
        assert "首都图书馆联盟".encode("gb18030") in job
        assert "平凡的世界".encode("gb18030") in job
        assert JOINT.encode() not in job  # the card number is masked on paper too
    finally:
        close(kiosk)


def test_paper_out_is_a_fault_for_the_technician_and_the_reader_keeps_the_qr_receipt(
    tmp_path: Path, printer
) -> None:
    printer.paper_out()
    kiosk = kiosk_with_printer(tmp_path, printer)
    try:
        runtime = kiosk.runtime
        borrow_one_book_and_finish(runtime)
        assert runtime.devices.printer is not None
        assert runtime.devices.printer.wait_idle(3)
        play(runtime)  # the printer's DeviceFault, posted from its thread by now
        assert printer.jobs() == []
        # the session ended normally and the summary still carries the receipt (its QR)
        assert runtime.view.screen == "summary"
        assert any(BOOK in line for line in runtime.view.receipt_lines)
        assert runtime.journal.last_txn_id() is not None  # the loan is recorded
        assert ("printer", "printer-paper-out") in runtime.state.service.faults
        assert "printer:printer-paper-out" in runtime.state.service.recent_faults
        assert runtime.telemetry().devices["printer"] == "printer-paper-out"
        [line] = [r for r in runtime.devices.self_test() if r.device == "printer"]
        assert (line.ok, line.code) == (False, "printer-paper-out")
    finally:
        close(kiosk)


def test_no_printer_configured_builds_none_and_the_runtime_prints_nothing(tmp_path: Path) -> None:
    config = load_config(None, {"journal.path": str(tmp_path / "j.sqlite3")})
    rig = sim_rig(config)
    kiosk = build_kiosk(config, rig.transports, rig=rig)
    try:
        assert kiosk.runtime.devices.printer is None
        assert kiosk.runtime.receipt_printer is None
    finally:
        close(kiosk)


# -- keyboard-mode scanners ----------------------------------------------------------------


def hid_config(tmp_path: Path) -> KioskConfig:
    return load_config(
        None,
        {
            "journal.path": str(tmp_path / "journal.sqlite3"),
            "devices.scanner.kind": "hid",
            "devices.scanner.device": "/dev/input/by-id/usb-desk-scanner-event-kbd",
        },
    )


def test_a_hid_scanner_types_into_the_core_like_a_serial_one(tmp_path: Path) -> None:
    config = hid_config(tmp_path)
    rig = sim_rig(config)
    device = RecordedDevice()
    rig.transports.desk_input = config.devices.scanner.device
    rig.transports.open_input = device.open
    # the simulator's hand for the self-test: the scanner types the test code
    rig.transports.aids = replace(
        rig.transports.aids, desk_readback=lambda code: device.send(keys(code))
    )
    posted: list[object] = []
    devices = build_devices(config, rig.transports, posted.append)
    try:
        assert isinstance(devices.scanner, HidScanner)
        assert type(devices.chute_scanner) is BarcodeScanner  # still serial
        devices.scanner.start()
        assert devices.scanner.wait_connected(3)
        device.send(keys(BOOK))
        for _ in range(100):
            if BarcodeRead(BOOK, "desk") in posted:
                break
            time.sleep(0.02)
        assert BarcodeRead(BOOK, "desk") in posted
        [line] = [r for r in devices.self_test() if r.device == "scanner"]
        assert line.ok, line
        assert (
            line.detail == "test scan read back on hid /dev/input/by-id/usb-desk-scanner-event-kbd"
        )
    finally:
        devices.close()
        device.unplug()


def test_a_pi_names_the_hid_device_and_the_printer_in_its_transports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeSpi:
        def xfer2(self, data: list[int]) -> list[int]:
            return [0] * len(data)

        def close(self) -> None:
            pass

    monkeypatch.setattr(drivers.mfrc522_spi, "open_spi", lambda *a, **k: FakeSpi())
    config = load_config(
        None,
        {
            "devices.scanner.kind": "hid",
            "devices.scanner.device": "/dev/input/by-id/kbd",
            "devices.chute_scanner.port": "/dev/ttyACM1",
            "devices.printer.kind": "usb",
            "devices.printer.device": "/dev/usb/lp0",
        },
    )
    transports = pi_transports(config)
    try:
        assert (transports.desk_port, transports.desk_input) == (None, "/dev/input/by-id/kbd")
        assert (transports.chute_port, transports.chute_input) == ("/dev/ttyACM1", None)
        assert str(transports.printer) == "usb /dev/usb/lp0"
    finally:
        transports.close()


def test_the_simulator_reads_a_hid_scanner_as_serial_with_a_warning(tmp_path: Path, caplog) -> None:
    config = hid_config(tmp_path)
    rig = sim_rig(config)
    with caplog.at_level(logging.WARNING, logger="firmware.devices"):
        devices = build_devices(config, rig.transports, lambda event: None)
    try:
        assert type(devices.scanner) is BarcodeScanner
        assert "configured as 'hid'" in caplog.text
    finally:
        devices.close()


def test_a_pn5180_card_reader_greets_a_card_tapped_in_the_simulator(tmp_path: Path) -> None:
    """`devices.card_reader.kind = "pn5180"`: the kiosk is built on the simulated PN5180
    (BUSY from the rig), and a card laid on it is read by the real poller and greets
    the reader like the MFRC522's."""
    from drivers.pn5180_cards import PN5180CardChip
    from hal_sim.pn5180_chip import EmulatedPN5180
    from kiosk_tools.simulated import build_simulated_kiosk

    config = load_config(
        None,
        {
            "journal.path": str(tmp_path / "journal.sqlite3"),
            "devices.card_reader.kind": "pn5180",
            "devices.card_reader.busy_pin": 26,
        },
    )
    kiosk = build_simulated_kiosk(config)
    try:
        runtime = kiosk.runtime
        runtime.link = AnsweringHub(runtime)  # type: ignore[assignment]
        assert isinstance(runtime.devices.card_reader.chip, PN5180CardChip)
        rig = kiosk.rig
        assert rig is not None and isinstance(rig.chip, EmulatedPN5180)
        card = rig.tap(JOINT)
        runtime.devices.card_reader.poll_once()
        play(runtime)
        assert runtime.view.screen == "borrow", runtime.view.screen
        assert "王*明" in str(runtime.view)
        assert runtime.devices.card_reader.present_uid == card.uid
        assert rig.chip.violations == 0
        assert rig.chip.hard_resets == 1  # RST pulsed through devices.card_reader.reset_pin
    finally:
        close(kiosk)


def test_a_pi_reads_the_pn5180s_busy_on_busy_pin_and_releases_it(tmp_path: Path) -> None:
    """Without a BUSY line among the transports (a Pi's), `busy_pin` is opened as an
    input on the transports' pin factory, the chip is driven through it, and closing
    the devices releases the pin."""
    from drivers.events import DeviceEvent
    from drivers.transports import DeviceTransports
    from hal_sim.cards import library_card
    from hal_sim.gpio import SimPinFactory
    from hal_sim.pn5180_chip import EmulatedPN5180

    config = load_config(
        None,
        {
            "devices.card_reader.kind": "pn5180",
            "devices.card_reader.busy_pin": 26,
            "devices.card_reader.reset_pin": None,
            "devices.scanner.port": "/dev/ttyS8",
            "devices.chute_scanner.port": "/dev/ttyS9",
        },
    )
    pins = SimPinFactory()
    chip = EmulatedPN5180(busy_reads=0)  # the pin reads low: a chip that is never busy
    events: list[DeviceEvent] = []
    transports = DeviceTransports(spi=chip, desk_port="/dev/ttyS8", chute_port="/dev/ttyS9", pin_factory=pins)
    devices = build_devices(config, transports, events.append)
    try:
        busy = pins.sim_pin(26)
        assert busy.function == "input" and busy.pull == "down"
        card = chip.field.present(library_card(JOINT))
        devices.card_reader.poll_once()
        assert events == [CardPresented(card.uid, JOINT.encode().ljust(48))]
    finally:
        devices.close()
    from gpiozero import DigitalInputDevice

    DigitalInputDevice(26, pin_factory=pins).close()  # the pin is free again (else GPIOPinInUse)
