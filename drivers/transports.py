"""What the kiosk's drivers open their hardware through, and nothing else.

A Pi and the simulator differ only here (OctoPrint's virtual printer): the card
reader's SPI transport (a `spidev.SpiDev`, or the simulator's register-level chip:
an MFRC522, or a PN5180 whose BUSY output is then `card_busy`),
the RFID book-tag readers' SPI (`rfid`, by config table: "rfid_pad", "chute_rfid"; each
a PN5180, with its BUSY output when the simulator brings one), the paths of the two
scanners' serial ports (the configured `/dev/tty...`, or the
simulator's pseudo-terminals) or, for USB keyboard-mode scanners, their input devices
(`/dev/input/by-id/...`, opened by `open_input`: evdev with a grab unless a test hands
in recorded events), the receipt printer's link (None: no printer) and the gpiozero
pin factory for the beams, outputs and the reader's reset line (None: gpiozero's
default backend, lgpio on a Pi; or the simulator's pins). Which pin is which, baud rates, timings and keys come from the
config, the same on both: the device builder (`firmware.devices.build_devices`) reads
them there.

What a caller may rely on: `close()` releases what the transports themselves opened
(the SPI device, the simulator's ptys), once, and is safe to call again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drivers.diagnostics import SelfTestAids
from drivers.hid_scanner import OpenInput
from drivers.mfrc522_pcd import SpiTransport
from drivers.pn5180_host import BusyLine
from drivers.pn5180_host import SpiTransport as Pn5180Spi
from drivers.receipt_printer import PrinterLink

if TYPE_CHECKING:
    from gpiozero.pins import Factory


@dataclass(frozen=True)
class RfidLink:
    """One PN5180 book-tag reader's transport: its SPI and, from the simulator, its
    BUSY output (None: the builder opens the configured `busy_pin`)."""

    spi: Pn5180Spi
    busy: BusyLine | None = None


@dataclass
class DeviceTransports:
    """The transports of one kiosk's devices; see the module docstring."""

    spi: SpiTransport
    desk_port: str | None  # None: the scanner is not a serial one
    chute_port: str | None
    pin_factory: Factory | None = None
    aids: SelfTestAids = field(default_factory=SelfTestAids)
    on_close: list[Callable[[], object]] = field(default_factory=list)
    desk_input: str | None = None  # the keyboard-mode scanners' input devices
    chute_input: str | None = None
    open_input: OpenInput | None = None  # None: evdev (drivers.hid_scanner.open_input_device)
    printer: PrinterLink | None = None
    security_port: str | None = None  # the EM unit's serial port, when the transports name one
    card_busy: BusyLine | None = None  # a PN5180 card chip's BUSY (the simulator's); None: busy_pin
    rfid: dict[str, RfidLink] = field(default_factory=dict)  # the fitted tag readers, by config table

    def close(self) -> None:
        """Run `on_close`, last first; safe to call twice."""
        while self.on_close:
            self.on_close.pop()()
