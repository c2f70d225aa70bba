"""An NXP MFRC522 emulated at register level, behind a spidev-like object.

Whatever drives a real MFRC522 over `spidev` can drive this instead: our driver, and
the unmodified `mfrc522` package (its peer test, under
hal_sim.mfrc522_package_doubles). The SPI framing is the chip's:
an address byte `(reg << 1) & 0x7E`, with bit 7 set for a read; a read transfer
lists register addresses and clocks each value out one byte later; a write transfer
sends one address followed by data bytes that all go to that register (so a FIFO
burst is one transfer).

Modelled: the 64-byte FIFO (FIFOLevelReg, FlushBuffer, overflow), CommandReg
commands (Idle, Mem, GenerateRandomID, CalcCRC, Transmit, Receive, Transceive,
MFAuthent, SoftReset), ComIrqReg/DivIrqReg with their Set1/Set2 write semantics,
ErrorReg, CollReg, BitFramingReg (StartSend, TxLastBits, RxAlign), TxModeReg/
RxModeReg CRC generation and checking, Status1/Status2 (MFCrypto1On), the timer
(TModeReg/TPrescaler/TReload in wall-clock time; TimerIRq when nobody answers),
TxControlReg antenna drivers and TxASKReg 100 % ASK (cards only hear the reader with
both on), VersionReg. The air side, the cards in reach and the collisions when several
answer at once, is hal_sim.rf_field's `RfField`.

Fault handles for tests read like the hardware failing: `hang()` (a cheap board that
stops answering: every read is 0x00, writes are lost) and `recover()` (power comes
back: registers at reset values, so the driver must re-initialise), `unplug()` (the
SPI cable or the 3.3 V supply is gone: nothing revives it until `plug()`),
`overheat()` (the chip's thermal protection switches the antenna drivers off).

The NRSTPD pin is an input like the chip's: `drive_nrstpd(level)`. Low is hard
power-down (SPI reads 0x00, the antenna is off); the rising edge is a power-on reset,
which also ends a `hang()`. The simulator wires it to a GPIO pin the driver controls
(`hal_sim.gpio.SimPin.watch`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from hal_sim.cards import Reply, bits_to_bytes, bytes_to_bits, crc_a
from hal_sim.rf_field import RfField, superpose

# Registers (datasheet names).
COMMAND, COM_IEN, DIV_IEN, COM_IRQ, DIV_IRQ, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
STATUS1, STATUS2, FIFO_DATA, FIFO_LEVEL, WATER_LEVEL = 0x07, 0x08, 0x09, 0x0A, 0x0B
CONTROL, BIT_FRAMING, COLL = 0x0C, 0x0D, 0x0E
MODE, TX_MODE, RX_MODE, TX_CONTROL, TX_ASK = 0x11, 0x12, 0x13, 0x14, 0x15
CRC_RESULT_H, CRC_RESULT_L, RF_CFG = 0x21, 0x22, 0x26
T_MODE, T_PRESCALER, T_RELOAD_H, T_RELOAD_L, T_COUNTER_H, T_COUNTER_L = (
    0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F,
)
VERSION = 0x37

# Commands.
CMD_IDLE, CMD_MEM, CMD_RANDOM_ID, CMD_CALC_CRC, CMD_TRANSMIT = 0x0, 0x1, 0x2, 0x3, 0x4
CMD_NO_CHANGE, CMD_RECEIVE, CMD_TRANSCEIVE, CMD_MF_AUTHENT, CMD_SOFT_RESET = 0x7, 0x8, 0xC, 0xE, 0xF

# ComIrqReg / DivIrqReg bits.
TX_IRQ, RX_IRQ, IDLE_IRQ, HI_ALERT_IRQ, LO_ALERT_IRQ, ERR_IRQ, TIMER_IRQ = (
    0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01,
)
CRC_IRQ = 0x04
# ErrorReg bits.
PROTOCOL_ERR, PARITY_ERR, CRC_ERR, COLL_ERR, BUFFER_OVFL, TEMP_ERR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x40
MF_CRYPTO1_ON = 0x08

FIFO_SIZE = 64
CHIP_CLOCK_HZ = 13.56e6

_RESET_VALUES: dict[int, int] = {
    COMMAND: 0x20, COM_IEN: 0x80, COM_IRQ: 0x14, WATER_LEVEL: 0x08, CONTROL: 0x10,
    COLL: 0xA0, MODE: 0x3F, TX_CONTROL: 0x80, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84,
    0x19: 0x4D, 0x1C: 0x62, 0x1F: 0xEB, CRC_RESULT_H: 0xFF, CRC_RESULT_L: 0xFF,
    0x24: 0x26, RF_CFG: 0x48, 0x27: 0x88, 0x28: 0x20, 0x29: 0x20, 0x33: 0x80, 0x36: 0x40,
}
_CRC_PRESETS = (0x0000, 0x6363, 0xA671, 0xFFFF)


def _crc_with_preset(data: bytes, preset: int) -> int:
    crc = preset
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = ((crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)) & 0xFFFF
    return crc


class EmulatedMFRC522:
    """A spidev.SpiDev look-alike wired to an emulated MFRC522 and its RF field."""

    def __init__(
        self,
        *,
        version: int = 0x92,
        field: RfField | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self.field = field or RfField(self._lock)
        self.version = version
        self._clock = clock
        self.max_speed_hz = 1_000_000
        self.mode = 0
        self.bits_per_word = 8
        self.opened: tuple[int, int] | None = None
        self.transfers = 0
        self.hard_resets = 0  # rising edges seen on NRSTPD
        self._hung = False
        self._unplugged = False
        self._nrstpd = True  # high: running (a board's pull-up when nothing drives it)
        self._overheated = False
        self._rx_fault: str | None = None
        self._buffer = bytes(25)
        self._power_on_reset()

    # -- spidev surface --

    def open(self, bus: int, device: int) -> None:
        self.opened = (bus, device)

    def close(self) -> None:
        self.opened = None

    def xfer2(self, data: list[int]) -> list[int]:
        """One chip-select cycle: a read list or a write burst (see module docstring)."""
        with self._lock:
            self.transfers += 1
            if self._hung or self._unplugged or not self._nrstpd or not data:
                return [0] * len(data)
            first = data[0]
            if first & 0x80:
                out = [0]
                for byte in data[:-1]:
                    out.append(self._read((byte >> 1) & 0x3F))
                return out
            reg = (first >> 1) & 0x3F
            for value in data[1:]:
                self._write(reg, value & 0xFF)
            return [0] * len(data)

    def xfer(self, data: list[int]) -> list[int]:
        return self.xfer2(data)

    # -- the world and its faults --

    def hang(self) -> None:
        """Stop answering like a cheap board does: reads give 0x00, writes are lost."""
        with self._lock:
            self._hung = True

    def recover(self) -> None:
        """Power comes back: the chip answers again, with every register at its reset value."""
        with self._lock:
            self._hung = False
            self._power_on_reset()

    @property
    def hung(self) -> bool:
        return self._hung

    def unplug(self) -> None:
        """The SPI cable comes off (or the reader loses its 3.3 V): reads give 0x00,
        writes are lost, and no reset, soft or hard, brings it back."""
        with self._lock:
            self._unplugged = True
            self.field.set_energised(False)

    def plug(self) -> None:
        """Cable back on: the chip powers up with every register at its reset value."""
        with self._lock:
            self._unplugged = False
            self._power_on_reset()

    def drive_nrstpd(self, level: bool) -> None:
        """The level on the NRSTPD pin: low = hard power-down, rising edge = reset."""
        with self._lock:
            was, self._nrstpd = self._nrstpd, bool(level)
            self.hard_resets += bool(level and not was)
            if not level:
                self.field.set_energised(False)
            elif not was:
                self._hung = False
                self._power_on_reset()

    def overheat(self) -> None:
        """Thermal protection trips: antenna drivers off, TempErr set, until `cool_down()`."""
        with self._lock:
            self._overheated = True
            self._regs[ERROR] |= TEMP_ERR
            self._regs[TX_CONTROL] &= ~0x03
            self._update_field()

    def cool_down(self) -> None:
        with self._lock:
            self._overheated = False
            self._regs[ERROR] &= ~TEMP_ERR

    def inject_rx_error(self, kind: str) -> None:
        """Spoil the next frame received from a card: "crc" (a byte flipped in flight)
        or "parity" (the chip flags ParityErr)."""
        if kind not in ("crc", "parity"):
            raise ValueError("kind is 'crc' or 'parity'")
        with self._lock:
            self._rx_fault = kind

    def peek(self, reg: int) -> int:
        """A register's stored value without side effects (for tests)."""
        with self._lock:
            return self._regs[reg]

    @property
    def antenna_on(self) -> bool:
        with self._lock:
            return self.field.energised

    @property
    def crypto1_on(self) -> bool:
        with self._lock:
            return bool(self._regs[STATUS2] & MF_CRYPTO1_ON)

    # -- registers --

    def _power_on_reset(self) -> None:
        self._regs = bytearray(64)
        for reg, value in _RESET_VALUES.items():
            self._regs[reg] = value
        if self._overheated:
            self._regs[ERROR] |= TEMP_ERR
        self._fifo = bytearray()
        self._command = CMD_IDLE
        self._timer_deadline: float | None = None
        self._timer_period = 0.0
        self._crc_data = bytearray()
        self._update_field()

    def _read(self, reg: int) -> int:
        if reg == FIFO_DATA:
            return self._fifo.pop(0) if self._fifo else 0
        if reg == FIFO_LEVEL:
            return len(self._fifo)
        if reg == COM_IRQ:
            self._tick()
            return self._regs[COM_IRQ]
        if reg == STATUS1:
            return self._status1()
        if reg == STATUS2:
            modem = 0x01 if self._command == CMD_TRANSCEIVE else 0x00
            return (self._regs[STATUS2] & 0xF8) | modem
        if reg == COMMAND:
            return (self._regs[COMMAND] & 0x30) | self._command
        if reg == VERSION:
            return self.version
        if reg in (T_COUNTER_H, T_COUNTER_L):
            value = self._timer_counter()
            return value >> 8 if reg == T_COUNTER_H else value & 0xFF
        return self._regs[reg]

    def _write(self, reg: int, value: int) -> None:
        if reg == COMMAND:
            self._regs[COMMAND] = value & 0x30
            self._start_command(value & 0x0F)
        elif reg in (COM_IRQ, DIV_IRQ):
            mask = value & (0x7F if reg == COM_IRQ else 0x14)
            if value & 0x80:
                self._regs[reg] |= mask
            else:
                self._regs[reg] &= ~mask
        elif reg == FIFO_DATA:
            self._push_fifo(bytes([value]))
            if self._command == CMD_CALC_CRC:
                self._feed_crc()
        elif reg == FIFO_LEVEL:
            if value & 0x80:
                self._fifo.clear()
                self._regs[ERROR] &= ~BUFFER_OVFL
        elif reg == CONTROL:
            if value & 0x80:
                self._timer_deadline = None
            if value & 0x40:
                self._start_timer()
        elif reg == BIT_FRAMING:
            self._regs[BIT_FRAMING] = value
            if value & 0x80 and self._command == CMD_TRANSCEIVE:
                self._transmit(receive=True)
        elif reg == COLL:
            self._regs[COLL] = (self._regs[COLL] & 0x7F) | (value & 0x80)
        elif reg == STATUS2:
            # MFCrypto1On can only be cleared by software; MFAuthent sets it.
            keep = self._regs[STATUS2] & MF_CRYPTO1_ON & value
            self._regs[STATUS2] = (value & 0xC0) | keep
        elif reg == TX_CONTROL:
            self._regs[TX_CONTROL] = value & (0xFC if self._overheated else 0xFF)
            self._update_field()
        elif reg == TX_ASK:
            self._regs[TX_ASK] = value
            self._update_field()
        elif reg in (ERROR, STATUS1, VERSION, T_COUNTER_H, T_COUNTER_L):
            pass  # read-only
        else:
            self._regs[reg] = value

    def _status1(self) -> int:
        self._tick()
        value = 0
        level = len(self._fifo)
        water = self._regs[WATER_LEVEL] & 0x3F
        if level <= water:
            value |= 0x01  # LoAlert
        if FIFO_SIZE - level <= water:
            value |= 0x02  # HiAlert
        if self._timer_deadline is not None:
            value |= 0x08  # TRunning
        if self._regs[COM_IRQ] & self._regs[COM_IEN] & 0x7F or self._regs[DIV_IRQ] & self._regs[DIV_IEN] & 0x14:
            value |= 0x10
        if self._regs[DIV_IRQ] & CRC_IRQ:
            value |= 0x20  # CRCReady
            value |= 0x40  # CRCOk: our coprocessor never fails
        return value

    def _push_fifo(self, data: bytes) -> None:
        room = FIFO_SIZE - len(self._fifo)
        self._fifo.extend(data[:room])
        if len(data) > room:
            self._regs[ERROR] |= BUFFER_OVFL
            self._regs[COM_IRQ] |= ERR_IRQ

    def _update_field(self) -> None:
        tx = self._regs[TX_CONTROL] & 0x03 and not self._overheated
        self.field.set_energised(bool(tx) and bool(self._regs[TX_ASK] & 0x40))

    # -- timer --

    def _start_timer(self) -> None:
        prescaler = ((self._regs[T_MODE] & 0x0F) << 8) | self._regs[T_PRESCALER]
        reload = (self._regs[T_RELOAD_H] << 8) | self._regs[T_RELOAD_L]
        self._timer_period = (2 * prescaler + 1) * (reload + 1) / CHIP_CLOCK_HZ
        self._timer_deadline = self._clock() + self._timer_period

    def _auto_start_timer(self) -> None:
        if self._regs[T_MODE] & 0x80:
            self._start_timer()

    def _tick(self) -> None:
        if self._timer_deadline is None:
            return
        now = self._clock()
        if now < self._timer_deadline:
            return
        self._regs[COM_IRQ] |= TIMER_IRQ
        if self._regs[T_MODE] & 0x10 and self._timer_period > 0:  # TAutoRestart
            while self._timer_deadline <= now:
                self._timer_deadline += self._timer_period
        else:
            self._timer_deadline = None

    def _timer_counter(self) -> int:
        self._tick()
        if self._timer_deadline is None or self._timer_period <= 0:
            return 0
        reload = (self._regs[T_RELOAD_H] << 8) | self._regs[T_RELOAD_L]
        remaining = max(0.0, self._timer_deadline - self._clock())
        return min(reload, int(remaining / self._timer_period * (reload + 1)))

    # -- commands --

    def _start_command(self, command: int) -> None:
        if command == CMD_NO_CHANGE:
            return
        if command == CMD_SOFT_RESET:
            buffer = self._buffer
            self._power_on_reset()
            self._buffer = buffer  # the internal buffer survives a soft reset
            return
        self._command = command
        if command == CMD_IDLE:
            return
        if command == CMD_CALC_CRC:
            self._crc_data = bytearray()
            self._feed_crc()
        elif command == CMD_MEM:
            if self._fifo:
                self._buffer = bytes(self._fifo[:25]).ljust(25, b"\x00")
                del self._fifo[:25]
            else:
                self._push_fifo(self._buffer)
            self._finish_command()
        elif command == CMD_RANDOM_ID:
            self._buffer = self._buffer[:15] + os.urandom(10)
            self._finish_command()
        elif command == CMD_TRANSMIT:
            self._transmit(receive=False)
        elif command == CMD_MF_AUTHENT:
            self._mf_authent()
        elif command not in (CMD_RECEIVE, CMD_TRANSCEIVE):
            self._finish_command()  # unknown commands end at once

    def _finish_command(self) -> None:
        self._command = CMD_IDLE
        self._regs[COM_IRQ] |= IDLE_IRQ

    def _feed_crc(self) -> None:
        """CalcCRC drains the FIFO into the coprocessor, including bytes written later."""
        self._crc_data.extend(self._fifo)
        self._fifo.clear()
        crc = _crc_with_preset(bytes(self._crc_data), _CRC_PRESETS[self._regs[MODE] & 0x03])
        self._regs[CRC_RESULT_H], self._regs[CRC_RESULT_L] = crc >> 8, crc & 0xFF
        self._regs[DIV_IRQ] |= CRC_IRQ

    def _begin_exchange(self) -> None:
        self._regs[ERROR] &= TEMP_ERR
        self._timer_deadline = None

    def _transmit(self, *, receive: bool) -> None:
        self._begin_exchange()
        data = bytes(self._fifo)
        self._fifo.clear()
        framing = self._regs[BIT_FRAMING]
        tx_last, rx_align = framing & 0x07, (framing >> 4) & 0x07
        bits = bytes_to_bits(data)
        if tx_last and bits:
            bits = bits[: len(bits) - 8 + tx_last]
        if self._regs[TX_MODE] & 0x80 and not tx_last:
            bits += bytes_to_bits(crc_a(data))
        replies = self.field.exchange(bits, crypto_on=bool(self._regs[STATUS2] & MF_CRYPTO1_ON))
        self._regs[COM_IRQ] |= TX_IRQ
        if not receive:
            self._finish_command()
            self._auto_start_timer()
            return
        if not replies:
            self._auto_start_timer()  # nobody answers: the timer will raise TimerIRq
            return
        self._receive(replies, rx_align)

    def _receive(self, replies: list[Reply], rx_align: int) -> None:
        heard, collision = superpose(replies)
        fault, self._rx_fault = self._rx_fault, None
        values_after_coll = self._regs[COLL] & 0x80
        if collision is not None:
            if not values_after_coll:
                heard[collision:] = [0] * (len(heard) - collision)
            self._regs[ERROR] |= COLL_ERR
            self._regs[COLL] = values_after_coll | ((rx_align + collision + 1) & 0x1F)
        else:
            self._regs[COLL] = values_after_coll | 0x20  # CollPosNotValid
        stored = [0] * rx_align + heard
        data = bytearray(bits_to_bytes(stored))
        if fault == "crc" and len(data) > 2:
            data[0] ^= 0x01
        if fault == "parity":
            self._regs[ERROR] |= PARITY_ERR
        if self._regs[RX_MODE] & 0x80 and len(stored) % 8 == 0 and len(data) >= 3:
            if crc_a(bytes(data[:-2])) != bytes(data[-2:]):
                self._regs[ERROR] |= CRC_ERR
            del data[-2:]
        self._push_fifo(bytes(data))
        self._regs[CONTROL] = (self._regs[CONTROL] & 0xF8) | (len(stored) % 8)
        self._regs[COM_IRQ] |= RX_IRQ
        if self._regs[ERROR] & (PROTOCOL_ERR | PARITY_ERR | CRC_ERR | COLL_ERR | BUFFER_OVFL):
            self._regs[COM_IRQ] |= ERR_IRQ

    def _mf_authent(self) -> None:
        self._begin_exchange()
        data = bytes(self._fifo)
        self._fifo.clear()
        if len(data) != 12:
            self._regs[ERROR] |= PROTOCOL_ERR
            self._regs[COM_IRQ] |= ERR_IRQ
            self._finish_command()
            return
        ok = self.field.authenticate(data[0], data[1], data[2:8], data[8:12])
        if ok:
            self._regs[STATUS2] |= MF_CRYPTO1_ON
            self._finish_command()
        else:
            self._auto_start_timer()  # the card falls silent; only the timer ends the wait
