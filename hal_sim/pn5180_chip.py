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
`transfers` counts SPI frames.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from functools import reduce

from hal_sim.iso15693_tag import Pad, crc16

WRITE_REGISTER, WRITE_OR, WRITE_AND, READ_REGISTER = 0x00, 0x01, 0x02, 0x04
SEND_DATA, READ_DATA, LOAD_RF_CONFIG, RF_ON, RF_OFF = 0x09, 0x0A, 0x11, 0x16, 0x17
SYSTEM_CONFIG, IRQ_STATUS, IRQ_CLEAR = 0x00, 0x02, 0x03
CRC_RX_CONFIG, RX_STATUS, TX_CONFIG, CRC_TX_CONFIG, RF_STATUS = 0x12, 0x13, 0x18, 0x19, 0x1D
RX_IRQ, TX_IRQ, TIMER1_IRQ, GENERAL_ERROR_IRQ = 1 << 0, 1 << 1, 1 << 12, 1 << 17
TX_FRAME_BITS = 0x4C0
INTEGRITY, COLLISION = 1 << 16, 1 << 18
TRANSCEIVE = 0x3
STATE_IDLE, STATE_WAIT_TRANSMIT = 0, 1


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
    ) -> None:
        self._lock = threading.RLock()
        self.pad = pad or Pad(self._lock)
        self.busy = BusyPin(self)
        self.busy_reads = busy_reads
        self._clock = clock
        self.regs: dict[int, int] = {TX_CONFIG: TX_FRAME_BITS}
        self.rx = b""
        self.transfers = 0
        self.violations = 0
        self.slots_with_collision = 0
        self._busy_left = 0
        self._stuck = False
        self._reply: bytes | None = None
        self._state = STATE_IDLE
        self._field_off_at: float | None = None

    # -- fault handles --

    def stick_busy(self) -> None:
        self._stuck = True

    def _read_busy(self) -> int:
        with self._lock:
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
            self.regs[CRC_TX_CONFIG] = self.regs.get(CRC_TX_CONFIG, 0) | 1
            self.regs[CRC_RX_CONFIG] = self.regs.get(CRC_RX_CONFIG, 0) | 1
        elif op == RF_ON:
            gap = 1.0 if self._field_off_at is None else self._clock() - self._field_off_at
            self.pad.set_energised(True, gap_s=gap)
        elif op == RF_OFF:
            if self.pad.energised:
                self._field_off_at = self._clock()
            self.pad.set_energised(False)
        elif op == SEND_DATA and len(args) >= 1:
            self._send(args[1:])

    def _read_register(self, reg: int) -> int:
        if reg == RF_STATUS:
            return (self._state & 0x7) << 24
        return self.regs.get(reg, 0)

    def _write_register(self, reg: int, value: int) -> None:
        if reg == IRQ_CLEAR:
            self.regs[IRQ_STATUS] = self.regs.get(IRQ_STATUS, 0) & ~value
            return
        self.regs[reg] = value & 0xFFFF_FFFF
        if reg == SYSTEM_CONFIG:
            self._state = STATE_WAIT_TRANSMIT if value & 0x7 == TRANSCEIVE else STATE_IDLE

    # -- RF --

    def _send(self, data: bytes) -> None:
        if self._state != STATE_WAIT_TRANSMIT:
            self.regs[IRQ_STATUS] = self.regs.get(IRQ_STATUS, 0) | GENERAL_ERROR_IRQ
            return
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

