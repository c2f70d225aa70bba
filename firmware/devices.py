"""The kiosk's devices as one set, and the one builder that makes it: the real drivers,
whether their transports are a Pi's or the simulator's. The shell starts and closes
them; diagnostics ask each in turn."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.tag_data.codec import record_cut_short
from contract.tag_data.record import DataModel
from drivers.book_security import SecuritySwitch, TagSecuritySwitch
from drivers.card_chip import CardChip
from drivers.card_reader import CardReader
from drivers.chute import Chute
from drivers.diagnostics import DiagResult, SelfTestAids
from drivers.em_security import EmGpioUnit, EmSerialUnit
from drivers.events import Post
from drivers.hid_scanner import HidScanner
from drivers.iso15693 import ISO15693Reader
from drivers.mfrc522 import MFRC522
from drivers.mfrc522_spi import open_reset_line
from drivers.outputs import Outputs
from drivers.pn5180_cards import PN5180CardChip
from drivers.pn5180_host import PN5180Host
from drivers.pn5180_wiring import open_busy_line
from drivers.receipt_printer import PrinterLink, ReceiptPrinter, printer_link
from drivers.rfid_pad import RfidPad
from drivers.rfid_security import RfidTagSecurity
from drivers.scanner import BarcodeScanner
from drivers.transports import DeviceTransports
from firmware.config import (
    CardReaderSection,
    KioskConfig,
    PrinterSection,
    RfidReaderSection,
    RfidSection,
    ScannerSection,
    SecuritySection,
)

log = logging.getLogger("firmware.devices")


@dataclass
class DeviceSet:
    """Every device of one kiosk; each is a real driver posting into the core's queue.
    `closers` are released after the devices, last first: the reader's reset line and
    the transports the set was built on."""

    card_reader: CardReader
    scanner: BarcodeScanner
    chute_scanner: BarcodeScanner
    chute: Chute
    outputs: Outputs
    aids: SelfTestAids = field(default_factory=SelfTestAids)
    closers: list[Callable[[], object]] = field(default_factory=list)
    printer: ReceiptPrinter | None = None  # None: no receipt printer configured
    security: SecuritySwitch | None = None  # None: [security] kind = "none"
    tag_security: TagSecuritySwitch | None = None  # None: no tag reader, or [rfid] security = "none"
    rfid_pad: RfidPad | None = None  # the lending pad's tag reader ([devices.rfid_pad])
    chute_rfid: RfidPad | None = None  # the return chute's tag reader ([devices.chute_rfid])

    def start(self) -> None:
        self.scanner.start()
        self.chute_scanner.start()
        self.card_reader.start()
        for reader in self._tag_readers():
            reader.start()
        if self.printer is not None:
            self.printer.start()

    def _tag_readers(self) -> list[RfidPad]:
        return [r for r in (self.rfid_pad, self.chute_rfid) if r is not None]

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once both scanner ports are open (a scan before that would be lost)."""
        return self.scanner.wait_connected(timeout) and self.chute_scanner.wait_connected(timeout)

    def self_test(self) -> list[DiagResult]:
        """Every device's self-test, in the order a technician checks them."""
        aids = self.aids
        results: list[DiagResult] = []
        if aids.present_test_card:
            aids.present_test_card()
        try:
            # Let the poller see the test card first, so the diagnose read does not race it.
            results += self.card_reader.diagnose()
        finally:
            if aids.remove_test_card:
                aids.remove_test_card()
        if self.rfid_pad is not None:
            if aids.present_test_tag:
                aids.present_test_tag()
            try:
                results += self.rfid_pad.diagnose()
            finally:
                if aids.remove_test_tag:
                    aids.remove_test_tag()
        if self.chute_rfid is not None:
            results += self.chute_rfid.diagnose()
        results += self.scanner.diagnose(aids.desk_readback)
        results += self.chute_scanner.diagnose(aids.chute_readback)
        results += self.chute.diagnose(aids.exercise_beams)
        results += self.outputs.diagnose()
        if self.printer is not None:
            results += self.printer.diagnose()
        if self.security is not None:
            results += self.security.diagnose()
        return results

    def close(self) -> None:
        """Close every device, then the closers. Safe to call twice."""
        for device in (self.card_reader, self.scanner, self.chute_scanner, self.chute, self.outputs):
            device.close()
        for reader in self._tag_readers():
            reader.close()
        if self.printer is not None:
            self.printer.close()
        if self.security is not None:
            self.security.close()
        while self.closers:
            self.closers.pop()()


def build_devices(config: KioskConfig, transports: DeviceTransports, post: Post) -> DeviceSet:
    """The kiosk's devices, posting into `post`: the one builder, on a Pi
    (`firmware.hardware.pi_transports`) and in the simulator (`hal_sim.rig.SimRig`)
    alike. Pins, baud rates, suffixes, timings and the card key come from the config;
    SPI, serial ports and the pin factory from `transports`, and nothing here knows
    which kind it was given. The card reader's chip is `build_card_chip`'s.

    The set owns the transports from here on: its `close()` releases them, and so does
    a build that fails half way, after closing what it had opened. Opening ports and
    polling start with `DeviceSet.start()`."""
    d = config.devices
    with contextlib.ExitStack() as opened:
        opened.callback(transports.close)
        card_chip, card_closers = build_card_chip(d.card_reader, transports)
        for close in card_closers:
            opened.callback(close)
        card_reader = CardReader(
            card_chip,
            post,
            interval_s=d.card_reader.poll_interval_s,
            key=bytes.fromhex(d.card_reader.key_hex),
        )
        opened.callback(card_reader.close)
        scanner = build_scanner(
            d.scanner, transports.desk_port, transports.desk_input, transports, post, "desk"
        )
        opened.callback(scanner.close)
        chute_scanner = build_scanner(
            d.chute_scanner, transports.chute_port, transports.chute_input, transports, post, "chute"
        )
        opened.callback(chute_scanner.close)
        chute = Chute(
            post,
            entry_pin=d.chute.entry_pin,
            exit_pin=d.chute.exit_pin,
            pin_factory=transports.pin_factory,
            bounce_s=d.chute.bounce_ms / 1000,
            jam_after_s=d.chute.jam_after_s,
        )
        opened.callback(chute.close)
        outputs = Outputs(
            transports.pin_factory,
            flap_pin=d.outputs.flap_pin,
            led_pin=d.outputs.led_pin,
            buzzer_pin=d.outputs.buzzer_pin,
        )
        closers: list[Callable[[], object]] = [transports.close, *card_closers]
        opened.callback(outputs.close)
        security = build_security(config.security, transports)
        if security is not None:
            opened.callback(security.close)
        readers: dict[str, RfidPad | None] = {}
        for name, section, source in (("rfid_pad", d.rfid_pad, "desk"), ("chute_rfid", d.chute_rfid, "chute")):
            reader, reader_closers = build_rfid_reader(
                section, name, source, transports, post, config.rfid.data_model
            )
            for close in reader_closers:
                opened.callback(close)
            closers += reader_closers
            if reader is not None:
                opened.callback(reader.close)
            readers[name] = reader
        tag_security = build_tag_security(config.rfid, [r for r in readers.values() if r is not None])
        printer = build_printer(d.printer, transports.printer, post)
        devices = DeviceSet(
            card_reader=card_reader,
            scanner=scanner,
            chute_scanner=chute_scanner,
            chute=chute,
            outputs=outputs,
            aids=transports.aids,
            closers=closers,
            printer=printer,
            security=security,
            tag_security=tag_security,
            rfid_pad=readers["rfid_pad"],
            chute_rfid=readers["chute_rfid"],
        )
        opened.pop_all()
    return devices


def build_card_chip(
    section: CardReaderSection, transports: DeviceTransports
) -> tuple[CardChip, list[Callable[[], object]]]:
    """The reader-card chip of the configured kind (`devices.card_reader.kind`) on the
    transports' SPI, and what closes the lines it opened. Its reset line (`reset_pin`:
    the MFRC522's NRSTPD, the PN5180's RST) is opened on the transports' pin factory and
    driven high at once; a PN5180's BUSY input is `busy_pin` on that factory, unless
    the transports bring their own (`card_busy`: the simulator's chip)."""
    kind, reset_pin, busy_pin = section.kind, section.reset_pin, section.busy_pin
    closers: list[Callable[[], object]] = []
    reset_line = None
    if reset_pin is not None:
        reset_line = open_reset_line(reset_pin, pin_factory=transports.pin_factory)
        closers.append(reset_line.close)
    if kind == "mfrc522":
        return MFRC522(transports.spi, reset_line=reset_line), closers
    busy = transports.card_busy
    if busy is None:
        assert busy_pin is not None  # checked at config load
        try:
            line = open_busy_line(busy_pin, pin_factory=transports.pin_factory)
        except Exception:
            for close in reversed(closers):
                close()
            raise
        closers.append(line.close)
        busy = line
    host = PN5180Host(transports.spi, busy, device="card_reader")
    return PN5180CardChip(host, reset_line=reset_line), closers


def build_rfid_reader(
    section: RfidReaderSection,
    name: str,
    source: str,
    transports: DeviceTransports,
    post: Post,
    data_model: DataModel = "iso28560-2",
) -> tuple[RfidPad | None, list[Callable[[], object]]]:
    """The PN5180 tag reader of `[devices.NAME]` (None for kind "none") posting stacks as
    `source`, and what closes the lines it opened: its RST on `reset_pin` (driven high
    at once) and its BUSY on `busy_pin`, unless the transports bring their own BUSY (the
    simulator's chip). Its SPI is `transports.rfid[name]`. The library's `data_model`
    tells the poller when a record goes on past the first blocks read."""
    kind, busy_pin, reset_pin = section.kind, section.busy_pin, section.reset_pin
    if kind == "none":
        return None, []
    link = transports.rfid.get(name)
    if link is None:
        raise ValueError(f"devices.{name} is fitted but the transports open no SPI for it")
    closers: list[Callable[[], object]] = []
    try:
        reset_line = None
        if reset_pin is not None:
            reset_line = open_reset_line(reset_pin, pin_factory=transports.pin_factory)
            closers.append(reset_line.close)
        busy = link.busy
        if busy is None:
            assert busy_pin is not None  # checked at config load
            line = open_busy_line(busy_pin, pin_factory=transports.pin_factory)
            closers.append(line.close)
            busy = line
    except Exception:
        for close in reversed(closers):
            close()
        raise
    reader = ISO15693Reader(PN5180Host(link.spi, busy, device=name))
    pad = RfidPad(
        reader,
        post,
        source=source,
        device=name,
        interval_s=section.poll_interval_s,
        settle_polls=section.settle_polls,
        read_blocks=section.read_blocks,
        reset_line=reset_line,
        cut_short=lambda memory: record_cut_short(data_model, memory),
    )
    return pad, closers


def build_tag_security(section: RfidSection, readers: list[RfidPad]) -> RfidTagSecurity | None:
    """The RFID security switch over the fitted tag readers, by the library's
    convention (`[rfid] security`); None when its tags carry no security or no reader
    is fitted (firmware.assembly.tag_security_fitted says the same to the core)."""
    if section.security == "none" or not readers:
        return None
    return RfidTagSecurity(
        readers,
        convention=section.security,
        afi_in_stock=section.afi_in_stock,
        afi_on_loan=section.afi_on_loan,
    )


def build_scanner(
    section: ScannerSection,
    port: str | None,
    input_device: str | None,
    transports: DeviceTransports,
    post: Post,
    source: str,
) -> BarcodeScanner:
    """A scanner of the configured kind (`devices.*.kind`) on what the transports name.
    The simulator offers serial scanners only: a "hid" scanner without an input device
    among the transports is read as a serial scanner on its port, with a warning."""
    if section.kind == "hid" and input_device is not None:
        return HidScanner(input_device, post, source=source, open_input=transports.open_input)
    if port is None:
        raise ValueError(f"the transports name no port or input device for the {source} scanner")
    if section.kind == "hid":
        log.warning(
            "the %s scanner is configured as 'hid' but the transports offer a serial port "
            "only (the simulator): reading %s as a serial scanner",
            source,
            port,
        )
    return BarcodeScanner(port, post, baudrate=section.baud, suffix=section.suffix, source=source)


def build_security(section: SecuritySection, transports: DeviceTransports) -> SecuritySwitch | None:
    """The configured book-security unit (`[security]`), None for kind "none". A
    serial unit's port is the transports' (`security_port`: the simulator's pty) or,
    on a Pi, the configured one."""
    kind, port, baud, timeout_s = section.kind, section.port, section.baud, section.timeout_ms / 1000
    pins = (section.unsecure_pin, section.secure_pin, section.confirm_pin)
    pulse_s = section.pulse_ms / 1000
    commands = (section.unsecure_command, section.secure_command, section.ok_answer)
    if kind == "none":
        return None
    if kind == "em_gpio":
        unsecure_pin, secure_pin, confirm_pin = pins
        assert unsecure_pin is not None and secure_pin is not None  # checked at config load
        return EmGpioUnit(
            unsecure_pin=unsecure_pin,
            secure_pin=secure_pin,
            confirm_pin=confirm_pin,
            pulse_s=pulse_s,
            confirm_timeout_s=timeout_s,
            pin_factory=transports.pin_factory,
        )
    port = transports.security_port or port
    if port is None:
        raise ValueError("security.port: set the EM unit's serial port (e.g. /dev/ttyUSB1)")
    unsecure_command, secure_command, ok_answer = commands
    return EmSerialUnit(
        port,
        baudrate=baud,
        unsecure_command=unsecure_command,
        secure_command=secure_command,
        ok_answer=ok_answer,
        timeout_s=timeout_s,
    )


def printer_link_from(section: PrinterSection) -> PrinterLink | None:
    """The configured printer's link (`devices.printer`), None for kind "none"."""
    kind, device, port, baud = section.kind, section.device, section.port, section.baud
    host, tcp_port = section.host, section.tcp_port
    if kind == "none":
        return None
    return printer_link(kind, device=device, port=port, baud=baud, host=host, tcp_port=tcp_port)


def build_printer(
    section: PrinterSection, link: PrinterLink | None, post: Post
) -> ReceiptPrinter | None:
    """The receipt printer on the transports' link, laid out and encoded as configured;
    None when the transports have no printer (none configured, or the simulator)."""
    encoding, columns, cut, status_query = (
        section.encoding,
        section.columns,
        section.cut,
        section.status_query,
    )
    if link is None:
        return None
    return ReceiptPrinter(
        link, post, encoding=encoding, columns=columns, cut=cut, status_query=status_query
    )


def summarise(results: list[DiagResult]) -> list[DiagResult]:
    """One line per device: its first failure, or a pass that joins the details."""
    by_device: dict[str, list[DiagResult]] = {}
    for result in results:
        by_device.setdefault(result.device, []).append(result)
    summary = []
    for device, lines in by_device.items():
        failed = [line for line in lines if not line.ok]
        if failed:
            summary.append(failed[0])
        else:
            details = "; ".join(line.detail for line in lines if line.detail)
            summary.append(DiagResult.passed(device, details))
    return summary
