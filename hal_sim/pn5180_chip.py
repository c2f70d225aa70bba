"""An NXP PN5180 emulated at its host interface, behind a spidev-like `xfer2` and a
BUSY pin (`busy.value`), so drivers.pn5180_host and drivers.iso15693 run unchanged.

Modelled: the BUSY handshake as state (high after every frame until the host has read
the pin `busy_reads` times; a frame sent while BUSY is high is a host fault, counted
in `violations` and dropped); two-frame replies (an instruction, then a read that
clocks the reply out); 32-bit little-endian registers with WRITE_REGISTER and the OR/
AND mask writes; LOAD_RF_CONFIG for ISO 15693 (enables CRC_TX/CRC_RX_CONFIG bit 0);
RF_ON/RF_OFF with the field gap timed on an injected clock; SYSTEM_CONFIG Transceive
(back to waiting for SEND_DATA after each exchange); SEND_DATA (an EOF only when
TX_CONFIG's frame bits 0x4C0 are cleared); IRQ_STATUS (RX_IRQ on an answer, TIMER1
on silence) and IRQ_CLEAR; RX_STATUS with the byte count, the integrity-error bit
(chip CRC check failed) and the collision bit when two or more tags answered (their
bytes superposed, so the data is garbled); READ_DATA. With the chip's CRC on, it
appends CRC-16 on transmit and checks and strips it on receive; with it off, frames
pass as they are. The tags are hal_sim.iso15693_tag's `Pad`.

Fault handle: `stick_busy()` (BUSY stays high, as a hung chip or a cut wire shows).
`transfers` counts SPI frames, `field_switched_on` the RF_ONs obeyed.

Reader cards (ISO 14443A, MIFARE Classic): after LOAD_RF_CONFIG 0x00/0x80 the chip is in
ISO 14443A mode and SEND_DATA goes to `field`, an `hal_sim.rf_field.RfField` of
`hal_sim.cards.VirtualCard`s (the emulated MFRC522's, so the same cards work on both
chips), through hal_sim.pn5180_iso14443: the valid bits of SEND_DATA's last byte,
CRC_TX/RX_CONFIG bit 0 (the 14443A config switches both on), RX_BIT_ALIGN and
VALUES_AFTER_COLLISION in CRC_RX_CONFIG, RX_STATUS with the last byte's valid bits
and the collision position, SYSTEM_CONFIG's MFC_CRYPTO_ON, MIFARE_AUTHENTICATE (0x0C,
a one-byte status reply). Silence raises TIMER1's IRQ only when TIMER1 is enabled to
start at the end of a transmission, as on the chip; otherwise no IRQ comes at all.
READ_EEPROM answers from `eeprom` (firmware version 4.0 at 0x12). RF_STATUS shows
the field (TX_RF_STATUS, bit 17).

More fault handles: `unplug()`/`plug()` (the reader off its cable or supply: MISO and
BUSY read low, commands are lost, nothing but `plug()` revives it), `drive_reset(level)`
(the RST pin: low holds the chip in reset, the rising edge is a power-on reset, counted
in `hard_resets`), `overheat()`/`cool_down()` (the temperature sensor's IRQ, the
transmitter stays off).
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from functools import reduce

from hal_sim.iso15693_tag import Pad, crc16
from hal_sim.pn5180_iso14443 import CardAir
from hal_sim.rf_field import RfField

WRITE_REGISTER, WRITE_OR, WRITE_AND, READ_REGISTER = 0x00, 0x01, 0x02, 0x04
SEND_DATA, READ_DATA, LOAD_RF_CONFIG, RF_ON, RF_OFF = 0x09, 0x0A, 0x11, 0x16, 0x17
SYSTEM_CONFIG, IRQ_STATUS, IRQ_CLEAR = 0x00, 0x02, 0x03
CRC_RX_CONFIG, RX_STATUS, TX_CONFIG, CRC_TX_CONFIG, RF_STATUS = 0x12, 0x13, 0x18, 0x19, 0x1D
RX_IRQ, TX_IRQ, TIMER1_IRQ, GENERAL_ERROR_IRQ = 1 << 0, 1 << 1, 1 << 12, 1 << 17
TX_FRAME_BITS = 0x4C0
INTEGRITY, COLLISION = 1 << 16, 1 << 18
TRANSCEIVE = 0x3
STATE_IDLE, STATE_WAIT_TRANSMIT = 0, 1
# Reader cards (ISO 14443A) and the chip's housekeeping.
READ_EEPROM, MIFARE_AUTHENTICATE = 0x07, 0x0C
RF_CONFIG_ISO14443A = bytes([0x00, 0x80])
TIMER1_CONFIG, T1_ENABLE, T1_START_ON_TX_ENDED = 0x0F, 1 << 0, 1 << 11
MFC_CRYPTO_ON, TX_RF_STATUS, TEMPSENS_ERROR_IRQ = 1 << 6, 1 << 17, 1 << 16
RX_BIT_ALIGN_SHIFT, VALUES_AFTER_COLLISION = 6, 1 << 9
ISO15693, ISO14443A = "iso15693", "iso14443a"
FIRMWARE_VERSION = bytes([0x00, 0x04])  # EEPROM 0x12: minor, major (4.0)


class BusyPin:
    """The chip's BUSY output as the host's GPIO sees it."""

    def __init__(self, chip: EmulatedPN5180) -> None:
        self._chip = chip

    @property
    def value(self) -> int:
        return self._chip._read_busy()


class EmulatedPN5180:
    """A PN5180 with a pad of ISO 15693 tags. Pass `chip` as the SPI transport and
    `chip.busy` as the BUSY line."""

    def __init__(
        self,
        pad: Pad | None = None,
        *,
        busy_reads: int = 1,
        clock: Callable[[], float] = time.monotonic,
        field: RfField | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.pad = pad or Pad(self._lock)
        self.field = field or RfField(self._lock)  # reader cards in reach of the antenna
        self.air = CardAir(self.field)
        self.protocol: str | None = ISO15693  # None: no RF configuration loaded since a reset
        self.eeprom = bytearray(256)
        self.eeprom[0x12:0x14] = FIRMWARE_VERSION
        self.hard_resets = 0
        self._unplugged = False
        self._in_reset = False  # RST held low
        self._overheated = False
        self.busy = BusyPin(self)
        self.busy_reads = busy_reads
        self._clock = clock
        self.regs: dict[int, int] = {TX_CONFIG: TX_FRAME_BITS}
        self.rx = b""
        self.transfers = 0
        self.violations = 0
        self.slots_with_collision = 0
        self.field_switched_on = 0  # RF_ON commands obeyed: one per inventory on the pad
        self._busy_left = 0
        self._stuck = False
        self._reply: bytes | None = None
        self._state = STATE_IDLE
        self._field_off_at: float | None = None

    # -- fault handles --

    def stick_busy(self) -> None:
        self._stuck = True

    def unplug(self) -> None:
        """The reader loses its cable or supply: SPI and BUSY read low until `plug()`."""
        with self._lock:
            self._unplugged = True
            self._power_on()

    def plug(self) -> None:
        """Cable back on: the chip boots with every register at its reset value."""
        with self._lock:
            self._unplugged = False
            self._power_on()

    def drive_reset(self, level: bool) -> None:
        """The level on RST: low holds the chip in reset, the rising edge reboots it."""
        with self._lock:
            was, self._in_reset = not self._in_reset, not level
            if not level:
                self._power_on()
            elif not was:
                self.hard_resets += 1
                self._power_on()

    def overheat(self) -> None:
        """The temperature sensor trips: field off, its IRQ set, RF_ON ignored until `cool_down()`."""
        with self._lock:
            self._overheated = True
            self.regs[IRQ_STATUS] = self.regs.get(IRQ_STATUS, 0) | TEMPSENS_ERROR_IRQ
            self.pad.set_energised(False)
            self.field.set_energised(False)

    def cool_down(self) -> None:
        with self._lock:
            self._overheated = False

    @property
    def antenna_on(self) -> bool:
        with self._lock:
            return self.field.energised

    @property
    def crypto1_on(self) -> bool:
        with self._lock:
            return bool(self.regs.get(SYSTEM_CONFIG, 0) & MFC_CRYPTO_ON)

    def _power_on(self) -> None:
        """Every register back at its reset value, the field off, no reply pending."""
        self.regs = {TX_CONFIG: TX_FRAME_BITS}
        if self._overheated:
            self.regs[IRQ_STATUS] = TEMPSENS_ERROR_IRQ
        self.rx = b""
        self._reply = None
        self._busy_left = 0
        self._state = STATE_IDLE
        self.protocol = None
        self.pad.set_energised(False)
        self.field.set_energised(False)

    def _read_busy(self) -> int:
        with self._lock:
            if self._unplugged or self._in_reset:
                return 0
            if self._stuck:
                return 1
            if self._busy_left:
                self._busy_left -= 1
                return 1
            return 0

    # -- SPI --

    def xfer2(self, data: list[int]) -> list[int]:
        with self._lock:
            self.transfers += 1
            if self._unplugged or self._in_reset:
                return [0] * len(data)
            if self._stuck or self._busy_left:
                self.violations += 1
                return [0xFF] * len(data)
            self._busy_left = self.busy_reads
            if self._reply is not None:
                out = list(self._reply[: len(data)].ljust(len(data), b"\xff"))
                self._reply = None
                return out
            self._instruction(bytes(data))
            return [0xFF] * len(data)

    def _instruction(self, frame: bytes) -> None:
        if not frame:
            return
        op, args = frame[0], frame[1:]
        if op in (WRITE_REGISTER, WRITE_OR, WRITE_AND) and len(args) == 5:
            reg, value = args[0], int.from_bytes(args[1:5], "little")
            old = self.regs.get(reg, 0)
            new = value if op == WRITE_REGISTER else old | value if op == WRITE_OR else old & value
            self._write_register(reg, new)
        elif op == READ_REGISTER and len(args) >= 1:
            self._reply = self._read_register(args[0]).to_bytes(4, "little")
        elif op == READ_DATA:
            self._reply = self.rx
        elif op == LOAD_RF_CONFIG and args[:2] == bytes([0x0D, 0x8D]):
            self.protocol = ISO15693
            self.regs[CRC_TX_CONFIG] = self.regs.get(CRC_TX_CONFIG, 0) | 1
            self.regs[CRC_RX_CONFIG] = self.regs.get(CRC_RX_CONFIG, 0) | 1
        elif op == LOAD_RF_CONFIG and args[:2] == RF_CONFIG_ISO14443A:
            self.protocol = ISO14443A
            self.regs[CRC_TX_CONFIG] = 1
            self.regs[CRC_RX_CONFIG] = 1
        elif op == RF_ON and self._overheated:
            pass  # the temperature sensor keeps the transmitter off
        elif op == RF_ON:
            self.field_switched_on += 1
            gap = 1.0 if self._field_off_at is None else self._clock() - self._field_off_at
            self.pad.set_energised(True, gap_s=gap)
            self.field.set_energised(True)
        elif op == RF_OFF:
            if self.pad.energised:
                self._field_off_at = self._clock()
            self.pad.set_energised(False)
            self.field.set_energised(False)
        elif op == SEND_DATA and len(args) >= 1:
            self._send(args[1:], valid_bits=args[0] & 0x7)
        elif op == READ_EEPROM and len(args) >= 2:
            self._reply = bytes(self.eeprom[args[0] : args[0] + args[1]])
        elif op == MIFARE_AUTHENTICATE and len(args) == 12:
            self._reply = bytes([self._mifare_authenticate(args)])

    def _read_register(self, reg: int) -> int:
        if reg == RF_STATUS:
            return ((self._state & 0x7) << 24) | (TX_RF_STATUS if self.field.energised else 0)
        return self.regs.get(reg, 0)

    def _write_register(self, reg: int, value: int) -> None:
        if reg == IRQ_CLEAR:
            self.regs[IRQ_STATUS] = self.regs.get(IRQ_STATUS, 0) & ~value
            return
        self.regs[reg] = value & 0xFFFF_FFFF
        if reg == SYSTEM_CONFIG:
            self._state = STATE_WAIT_TRANSMIT if value & 0x7 == TRANSCEIVE else STATE_IDLE

    # -- RF --

    def _send(self, data: bytes, valid_bits: int = 0) -> None:
        if self._state != STATE_WAIT_TRANSMIT:
            self.regs[IRQ_STATUS] = self.regs.get(IRQ_STATUS, 0) | GENERAL_ERROR_IRQ
            return
        if self.protocol == ISO14443A:
            self._send_14443a(data, valid_bits)
            return
        if self.protocol is None:
            return  # no RF configuration loaded since power-on: nothing goes out, no IRQ
        eof_only = not self.regs.get(TX_CONFIG, 0) & TX_FRAME_BITS
        if eof_only:
            frame = None
        elif self.regs.get(CRC_TX_CONFIG, 0) & 1:
            frame = data + crc16(data).to_bytes(2, "little")
        else:
            frame = data
        replies = self.pad.exchange(frame)
        irq = self.regs.get(IRQ_STATUS, 0) | TX_IRQ
        if not replies:
            self.regs[IRQ_STATUS] = irq | TIMER1_IRQ
            self.regs[RX_STATUS] = 0
            return
        heard = replies[0]
        status = 0
        if len(replies) > 1:
            self.slots_with_collision += 1
            status |= COLLISION | ((self._first_difference(replies) & 0x7F) << 19)
            length = max(len(r) for r in replies)
            padded = [r.ljust(length, b"\x00") for r in replies]
            heard = bytes(reduce(operator.or_, column) for column in zip(*padded, strict=True))
        if self.regs.get(CRC_RX_CONFIG, 0) & 1:
            if len(heard) < 3 or crc16(heard[:-2]) != int.from_bytes(heard[-2:], "little"):
                status |= INTEGRITY
            heard = heard[:-2]
        self.rx = heard
        self.regs[RX_STATUS] = status | len(heard)
        self.regs[IRQ_STATUS] = irq | RX_IRQ

    @staticmethod
    def _first_difference(replies: list[bytes]) -> int:
        for i in range(max(len(r) for r in replies) * 8):
            bits = {(r[i // 8] >> (i % 8)) & 1 if i // 8 < len(r) else 0 for r in replies}
            if len(bits) > 1:
                return i
        return 0

    # -- reader cards (ISO 14443A) --

    def _send_14443a(self, data: bytes, valid_bits: int) -> None:
        rx_config = self.regs.get(CRC_RX_CONFIG, 0)
        heard = self.air.transceive(
            data,
            valid_bits,
            crc_tx=bool(self.regs.get(CRC_TX_CONFIG, 0) & 1),
            crc_rx=bool(rx_config & 1),
            rx_align=(rx_config >> RX_BIT_ALIGN_SHIFT) & 0x7,
            values_after_collision=bool(rx_config & VALUES_AFTER_COLLISION),
            crypto_on=bool(self.regs.get(SYSTEM_CONFIG, 0) & MFC_CRYPTO_ON),
        )
        irq = self.regs.get(IRQ_STATUS, 0) | TX_IRQ
        if heard is None:
            self.regs[RX_STATUS] = 0
            timer1 = self.regs.get(TIMER1_CONFIG, 0)
            if timer1 & T1_ENABLE and timer1 & T1_START_ON_TX_ENDED:
                irq |= TIMER1_IRQ
            self.regs[IRQ_STATUS] = irq
            return
        if heard.collision_bit is not None:
            self.slots_with_collision += 1
        self.rx = heard.data
        self.regs[RX_STATUS] = heard.rx_status
        self.regs[IRQ_STATUS] = irq | RX_IRQ

    def _mifare_authenticate(self, args: bytes) -> int:
        key, key_type, block, uid4 = args[0:6], args[6], args[7], args[8:12]
        status = self.air.authenticate(key_type, block, bytes(key), bytes(uid4))
        if status == 0:
            self.regs[SYSTEM_CONFIG] = self.regs.get(SYSTEM_CONFIG, 0) | MFC_CRYPTO_ON
        return status
