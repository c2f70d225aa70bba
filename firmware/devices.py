"""The kiosk's devices as one set, and the one builder that makes it: the real drivers,
whether their transports are a Pi's or the simulator's. The shell starts and closes
them; diagnostics ask each in turn."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.card_reader import CardReader
from drivers.chute import Chute
from drivers.diagnostics import DiagResult, SelfTestAids
from drivers.events import Post
from drivers.mfrc522 import MFRC522, open_reset_line
from drivers.outputs import Outputs
from drivers.scanner import BarcodeScanner
from drivers.transports import DeviceTransports
from firmware.config import KioskConfig


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

    def start(self) -> None:
        self.scanner.start()
        self.chute_scanner.start()
        self.card_reader.start()

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
        results += self.scanner.diagnose(aids.desk_readback)
        results += self.chute_scanner.diagnose(aids.chute_readback)
        results += self.chute.diagnose(aids.exercise_beams)
        results += self.outputs.diagnose()
        return results

    def close(self) -> None:
        """Close every device, then the closers. Safe to call twice."""
        for device in (self.card_reader, self.scanner, self.chute_scanner, self.chute, self.outputs):
            device.close()
        while self.closers:
            self.closers.pop()()


def build_devices(config: KioskConfig, transports: DeviceTransports, post: Post) -> DeviceSet:
    """The kiosk's devices, posting into `post`: the one builder, on a Pi
    (`firmware.hardware.pi_transports`) and in the simulator (`hal_sim.rig.SimRig`)
    alike. Pins, baud rates, suffixes, timings and the card key come from the config;
    SPI, serial ports and the pin factory from `transports`, and nothing here knows
    which kind it was given. The card reader's reset line (`devices.card_reader.
    reset_pin`) is opened on the transports' pin factory and driven high at once.

    The set owns the transports from here on: its `close()` releases them, and so does
    a build that fails half way, after closing what it had opened. Opening ports and
    polling start with `DeviceSet.start()`."""
    d = config.devices
    with contextlib.ExitStack() as opened:
        opened.callback(transports.close)
        reset_line = None
        if d.card_reader.reset_pin is not None:
            reset_line = open_reset_line(d.card_reader.reset_pin, pin_factory=transports.pin_factory)
            opened.callback(reset_line.close)
        card_reader = CardReader(
            MFRC522(transports.spi, reset_line=reset_line),
            post,
            interval_s=d.card_reader.poll_interval_s,
            key=bytes.fromhex(d.card_reader.key_hex),
        )
        opened.callback(card_reader.close)
        scanner = BarcodeScanner(
            transports.desk_port, post, baudrate=d.scanner.baud, suffix=d.scanner.suffix, source="desk"
        )
        opened.callback(scanner.close)
        chute_scanner = BarcodeScanner(
            transports.chute_port,
            post,
            baudrate=d.chute_scanner.baud,
            suffix=d.chute_scanner.suffix,
            source="chute",
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
        closers: list[Callable[[], object]] = [transports.close]
        if reset_line is not None:
            closers.append(reset_line.close)
        devices = DeviceSet(
            card_reader=card_reader,
            scanner=scanner,
            chute_scanner=chute_scanner,
            chute=chute,
            outputs=outputs,
            aids=transports.aids,
            closers=closers,
        )
        opened.pop_all()
    return devices


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
