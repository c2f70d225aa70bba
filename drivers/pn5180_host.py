"""The NXP PN5180's host interface: SPI frames with the BUSY handshake, its registers
(32-bit, little-endian on the wire) and the RF commands.

Every frame goes BUSY low -> NSS low -> transfer -> NSS high -> BUSY high while the
chip works -> BUSY low. `spi.xfer2` drives NSS itself, so the host waits for BUSY low
before each frame and after it; each wait is bounded, and a BUSY line that never
falls raises `BusyStuck` (a hung chip or a broken BUSY wire), never hangs the poller.
A command with a reply (READ_REGISTER, READ_DATA) is two frames: the instruction,
then a read of the reply, each with its own handshake (datasheet 11.4.1).
The ISO 15693 protocol above it is drivers.iso15693.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from drivers.device_errors import DeviceError

# Host commands (datasheet 11.4.2).
WRITE_REGISTER, WRITE_REGISTER_OR_MASK, WRITE_REGISTER_AND_MASK = 0x00, 0x01, 0x02
READ_REGISTER, READ_EEPROM, SEND_DATA, READ_DATA = 0x04, 0x07, 0x09, 0x0A
MIFARE_AUTHENTICATE = 0x0C
LOAD_RF_CONFIG, RF_ON, RF_OFF = 0x11, 0x16, 0x17

# Registers.
SYSTEM_CONFIG, IRQ_ENABLE, IRQ_STATUS, IRQ_CLEAR = 0x00, 0x01, 0x02, 0x03
CRC_RX_CONFIG, RX_STATUS, TX_CONFIG, CRC_TX_CONFIG, RF_STATUS = 0x12, 0x13, 0x18, 0x19, 0x1D

# SYSTEM_CONFIG command field (bits 0..2).
COMMAND_MASK, COMMAND_IDLE, COMMAND_TRANSCEIVE = 0x7, 0x0, 0x3
# IRQ_STATUS bits.
RX_IRQ, TX_IRQ, IDLE_IRQ, TIMER1_IRQ, GENERAL_ERROR_IRQ = 1 << 0, 1 << 1, 1 << 2, 1 << 12, 1 << 17
ALL_IRQS = 0x000F_FFFF
# RX_STATUS fields.
RX_NUM_BYTES_MASK = 0x1FF
RX_DATA_INTEGRITY_ERROR, RX_PROTOCOL_ERROR, RX_COLLISION_DETECTED = 1 << 16, 1 << 17, 1 << 18
# TX_CONFIG: with these cleared the next SEND_DATA sends an EOF only (the ISO 15693
# "next slot"); CRC_*_CONFIG bit 0 enables the chip's own CRC.
TX_FRAME_BITS, CRC_ENABLE = 0x0000_04C0, 0x1
# LOAD_RF_CONFIG pairs (TX, RX): ISO 15693 ASK100 26 kbit/s, ISO 14443A 106 kbit/s.
RF_CONFIG_ISO15693 = (0x0D, 0x8D)
RF_CONFIG_ISO14443A = (0x00, 0x80)

DEVICE = "rfid_pad"


class PN5180Error(DeviceError):
    """Base of the PN5180's errors; `device` and `code` are what a technician sees."""

    device = DEVICE
    code = "reader-error"


class BusyStuck(PN5180Error):
    """BUSY stayed high past the bound: the chip hangs, is unpowered, or BUSY is unwired."""

    code = "reader-busy"


class RfTimeout(PN5180Error):
    """Neither RX_IRQ nor the receive timer's IRQ came: the chip stopped its transceive."""

    code = "reader-silent"


class SpiTransport(Protocol):
    """What the host needs from SPI: one full-duplex chip-select cycle (spidev's xfer2)."""

    def xfer2(self, data: list[int]) -> list[int]: ...


class BusyLine(Protocol):
    """The BUSY output of the chip, read on a GPIO input (gpiozero's DigitalInputDevice
    fits as it is): truthy while the chip is working."""

    @property
    def value(self) -> int | bool: ...


@dataclass(frozen=True)
class RxStatus:
    """RX_STATUS decoded: bytes waiting in the RX buffer and the error flags."""

    length: int
    collision: bool
    integrity_error: bool
    protocol_error: bool

    @classmethod
    def decode(cls, raw: int) -> RxStatus:
        return cls(
            length=raw & RX_NUM_BYTES_MASK,
            collision=bool(raw & RX_COLLISION_DETECTED),
            integrity_error=bool(raw & RX_DATA_INTEGRITY_ERROR),
            protocol_error=bool(raw & RX_PROTOCOL_ERROR),
        )


class PN5180Host:
    """One PN5180 behind `spi` and `busy`. `busy_timeout_s` bounds every BUSY wait (the
    chip's commands take microseconds; 50 ms means it is gone); `transfers` counts SPI
    frames, which is what an empty-pad poll costs."""

    def __init__(
        self,
        spi: SpiTransport,
        busy: BusyLine,
        *,
        device: str = DEVICE,
        busy_timeout_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spi = spi
        self.busy = busy
        self.device = device
        self.busy_timeout_s = busy_timeout_s
        self._clock = clock
        self.transfers = 0

    def _wait_not_busy(self, what: str) -> None:
        deadline = self._clock() + self.busy_timeout_s
        while self.busy.value:
            if self._clock() >= deadline:
                raise BusyStuck(
                    f"PN5180 BUSY stayed high {self.busy_timeout_s * 1000:.0f} ms {what}: "
                    "check the chip's supply and the BUSY wire",
                    device=self.device,
                )

    def frame(self, data: list[int]) -> list[int]:
        """One frame with the full BUSY handshake around it."""
        self._wait_not_busy(f"before 0x{data[0]:02X}" if data else "before a read")
        reply = self.spi.xfer2(list(data))
        self.transfers += 1
        self._wait_not_busy("after a frame")
        return list(reply)

    def _query(self, instruction: list[int], length: int) -> bytes:
        self.frame(instruction)
        return bytes(self.frame([0xFF] * length))

    # -- registers --

    def write_register(self, reg: int, value: int) -> None:
        self.frame([WRITE_REGISTER, reg, *value.to_bytes(4, "little")])

    def or_mask(self, reg: int, mask: int) -> None:
        self.frame([WRITE_REGISTER_OR_MASK, reg, *mask.to_bytes(4, "little")])

    def and_mask(self, reg: int, mask: int) -> None:
        self.frame([WRITE_REGISTER_AND_MASK, reg, *(mask & 0xFFFF_FFFF).to_bytes(4, "little")])

    def read_register(self, reg: int) -> int:
        return int.from_bytes(self._query([READ_REGISTER, reg], 4), "little")

    def read_eeprom(self, address: int, length: int) -> bytes:
        """READ_EEPROM: `length` bytes from `address` (firmware version: 0x12, 2 bytes)."""
        return self._query([READ_EEPROM, address, length], length)

    # -- RF --

    def load_rf_config(self, tx: int, rx: int) -> None:
        self.frame([LOAD_RF_CONFIG, tx, rx])

    def rf_on(self) -> None:
        self.frame([RF_ON, 0x00])

    def rf_off(self) -> None:
        self.frame([RF_OFF, 0x00])

    def send_data(self, data: bytes, last_bits: int = 0) -> None:
        """SEND_DATA; `last_bits` 0 means the last byte is whole."""
        self.frame([SEND_DATA, last_bits, *data])

    def read_data(self, length: int) -> bytes:
        return self._query([READ_DATA, 0x00], length) if length else b""

    def rx_status(self) -> RxStatus:
        return RxStatus.decode(self.read_register(RX_STATUS))

    def start_transceive(self) -> None:
        """SYSTEM_CONFIG to Idle then Transceive: the chip waits for SEND_DATA."""
        self.and_mask(SYSTEM_CONFIG, ~COMMAND_MASK)
        self.or_mask(SYSTEM_CONFIG, COMMAND_TRANSCEIVE)

    def wait_rx(self, max_polls: int = 50) -> bool:
        """Poll IRQ_STATUS after a SEND_DATA: True on RX_IRQ (a reply is in the buffer),
        False on the receive timer's IRQ (nobody answered). Bounded by `max_polls`."""
        for _ in range(max_polls):
            irq = self.read_register(IRQ_STATUS)
            if irq & RX_IRQ:
                return True
            if irq & (TIMER1_IRQ | GENERAL_ERROR_IRQ):
                return False
        raise RfTimeout(
            f"PN5180 raised no RX or timer IRQ in {max_polls} polls", device=self.device
        )

    def mifare_authenticate(self, key: bytes, key_type: int, block: int, uid4: bytes) -> int:
        """MIFARE_AUTHENTICATE (key, 0x60/0x61, block, the UID's 4 bytes); the chip's
        status byte: 0 authenticated (Crypto1 on), 1 refused, 2 the card timed out."""
        return self._query([MIFARE_AUTHENTICATE, *key, key_type, block, *uid4], 1)[0]

    def clear_irqs(self) -> None:
        self.write_register(IRQ_CLEAR, ALL_IRQS)
