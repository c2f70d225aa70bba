"""The MFRC522 itself (ISO 14443's PCD, the reader chip), over an injected spidev-like
transport: its registers, FIFO, timer, antenna, CRC coprocessor and Transceive.

What a caller may rely on: every wait is bounded by the chip's own timer (TAuto) plus
a wall-clock safety limit for a chip that stopped counting, polled with short, growing
sleeps; multi-register reads and FIFO bursts keep an empty poll to about ten SPI
transfers; the version register is read with every status read, so a board that
stopped answering (0x00 or 0xFF) raises `ChipNotResponding` at once. The card side of
the air interface is drivers.iso14443a; MIFARE Classic is drivers.mfrc522.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from drivers.card_chip import Frame
from drivers.mfrc522_errors import (
    DEVICE,
    ChipNotResponding,
    CollisionError,
    CRCError,
    ProtocolError,
    Timeout,
)

# Registers.
COMMAND_REG, COM_IRQ_REG, DIV_IRQ_REG, ERROR_REG = 0x01, 0x04, 0x05, 0x06
STATUS2_REG, FIFO_DATA_REG, FIFO_LEVEL_REG, CONTROL_REG = 0x08, 0x09, 0x0A, 0x0C
BIT_FRAMING_REG, COLL_REG, MODE_REG, TX_CONTROL_REG, TX_ASK_REG = 0x0D, 0x0E, 0x11, 0x14, 0x15
CRC_RESULT_H_REG, CRC_RESULT_L_REG, RF_CFG_REG = 0x21, 0x22, 0x26
T_MODE_REG, T_PRESCALER_REG, T_RELOAD_H_REG, T_RELOAD_L_REG = 0x2A, 0x2B, 0x2C, 0x2D
VERSION_REG = 0x37

# Commands.
CMD_IDLE, CMD_CALC_CRC, CMD_TRANSCEIVE, CMD_MF_AUTHENT, CMD_SOFT_RESET = 0x0, 0x3, 0xC, 0xE, 0xF

# Interrupt and error bits.
RX_IRQ, IDLE_IRQ, ERR_IRQ, TIMER_IRQ, CRC_IRQ = 0x20, 0x10, 0x02, 0x01, 0x04
PROTOCOL_ERR, PARITY_ERR, CRC_ERR, COLL_ERR, BUFFER_OVFL, TEMP_ERR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x40
MF_CRYPTO1_ON = 0x08

# Timer: a 100 µs tick (13.56 MHz / (2 * 677 + 1)), started by TAuto at the end of
# every transmission, so the chip itself bounds how long we wait for a card.
_PRESCALER = 677
_TICK_S = (2 * _PRESCALER + 1) / 13.56e6
_STATUS_REGS = (COM_IRQ_REG, ERROR_REG, FIFO_LEVEL_REG, CONTROL_REG, COLL_REG, VERSION_REG)
_ANTENNA_GAINS_DB = (18, 23, 18, 23, 33, 38, 43, 48)


class SpiTransport(Protocol):
    """What the driver needs from SPI: one full-duplex chip-select cycle."""

    def xfer2(self, data: list[int]) -> list[int]: ...


class ResetLine(Protocol):
    """The chip's NRSTPD input: high lets it run, low holds it in hard power-down."""

    def hard_reset(self) -> None:
        """Pull NRSTPD low, release it, and wait for the oscillator to start."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Status:
    irq: int
    error: int
    fifo_level: int
    control: int
    coll: int
    version: int


class MFRC522Pcd:
    """One MFRC522 chip behind `spi`. Not thread-safe: one owner (the poller) at a time.

    `timeout_s` bounds MIFARE commands (authenticate, read, write); `poll_timeout_s`
    bounds REQA/WUPA, anticollision, SELECT and HLTA, whose answers come within about
    0.1 ms, so an empty field costs little. `safety_s` is the wall-clock bound for a
    chip whose timer never fires.
    """

    def __init__(
        self,
        spi: SpiTransport,
        *,
        reset_line: ResetLine | None = None,
        device: str = DEVICE,
        timeout_s: float = 0.025,
        poll_timeout_s: float = 0.002,
        safety_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spi = spi
        self.reset_line = reset_line
        self.device = device
        self.timeout_s = timeout_s
        self.poll_timeout_s = poll_timeout_s
        self.safety_s = safety_s
        self._clock = clock
        self._sleep = sleep
        self._reload: int | None = None  # TReload value the chip holds, if known

    # -- register access --

    def read_registers(self, regs: Sequence[int]) -> list[int]:
        """Several registers in one chip-select cycle."""
        reply = self.spi.xfer2([((r << 1) & 0x7E) | 0x80 for r in regs] + [0])
        return list(reply[1:])

    def read_register(self, reg: int) -> int:
        return self.read_registers((reg,))[0]

    def write_register(self, reg: int, *values: int) -> None:
        """Write one or more bytes to one register (several bytes: a FIFO burst)."""
        self.spi.xfer2([(reg << 1) & 0x7E, *values])

    def set_bits(self, reg: int, mask: int) -> None:
        self.write_register(reg, self.read_register(reg) | mask)

    def clear_bits(self, reg: int, mask: int) -> None:
        self.write_register(reg, self.read_register(reg) & ~mask & 0xFF)

    def _status(self) -> _Status:
        status = _Status(*self.read_registers(_STATUS_REGS))
        if status.version in (0x00, 0xFF):
            raise ChipNotResponding(
                f"version register reads 0x{status.version:02X}", device=self.device
            )
        return status

    # -- chip setup --

    def version(self) -> int:
        """VersionReg: 0x91/0x92 for genuine chips, 0x88/0x12 for common clones."""
        return self.read_register(VERSION_REG)

    def reset(self) -> None:
        """Soft reset; waits (bounded) for the oscillator to come back (PowerDown clear)."""
        self.write_register(COMMAND_REG, CMD_SOFT_RESET)
        self._reload = None
        deadline = self._clock() + self.safety_s
        while self.read_register(COMMAND_REG) & 0x10:
            if self._clock() >= deadline:
                raise ChipNotResponding("chip stays powered down after reset", device=self.device)
            self._sleep(0.001)

    def hard_reset(self) -> bool:
        """Pulse NRSTPD (every register back to its reset value); False when this chip
        has no reset line, so only the soft reset is left."""
        if self.reset_line is None:
            return False
        self.reset_line.hard_reset()
        self._reload = None
        return True

    def init(self, *, hard_reset: bool = False) -> int:
        """Reset and configure: timer in TAuto mode with a 100 µs tick, 100 % ASK,
        CRC preset 0x6363, antenna on. With `hard_reset` the reset line is pulsed
        before the soft reset (if there is one). Returns the version; raises
        ChipNotResponding."""
        if hard_reset:
            self.hard_reset()
        self.reset()
        version = self.version()
        if version in (0x00, 0xFF):
            raise ChipNotResponding(f"version register reads 0x{version:02X}", device=self.device)
        self.write_register(T_MODE_REG, 0x80 | (_PRESCALER >> 8))
        self.write_register(T_PRESCALER_REG, _PRESCALER & 0xFF)
        self._set_timeout(self.timeout_s)
        self.write_register(TX_ASK_REG, 0x40)
        self.write_register(MODE_REG, 0x3D)
        self.antenna_on()
        if self.read_register(T_MODE_REG) != 0x80 | (_PRESCALER >> 8):
            raise ChipNotResponding("register writes do not stick", device=self.device)
        return version

    def _set_timeout(self, seconds: float) -> None:
        reload = max(1, min(0xFFFF, round(seconds / _TICK_S) - 1))
        if reload == self._reload:
            return
        if self._reload is None or (self._reload >> 8) != (reload >> 8):
            self.write_register(T_RELOAD_H_REG, reload >> 8)
        self.write_register(T_RELOAD_L_REG, reload & 0xFF)
        self._reload = reload

    def antenna_on(self) -> None:
        value = self.read_register(TX_CONTROL_REG)
        if value & 0x03 != 0x03:
            self.write_register(TX_CONTROL_REG, value | 0x03)

    def antenna_off(self) -> None:
        self.clear_bits(TX_CONTROL_REG, 0x03)

    def antenna_is_on(self) -> bool:
        return self.read_register(TX_CONTROL_REG) & 0x03 == 0x03

    def temperature_error(self) -> bool:
        """The chip's thermal protection switched the antenna drivers off."""
        return bool(self.read_register(ERROR_REG) & TEMP_ERR)

    def set_antenna_gain(self, level: int) -> None:
        """Receiver gain, RFCfgReg RxGain 0..7 (18 dB .. 48 dB); 4 (33 dB) is the reset value."""
        if not 0 <= level <= 7:
            raise ValueError("gain level is 0..7")
        value = self.read_register(RF_CFG_REG)
        self.write_register(RF_CFG_REG, (value & 0x8F) | (level << 4))

    def antenna_gain_db(self) -> int:
        return _ANTENNA_GAINS_DB[(self.read_register(RF_CFG_REG) >> 4) & 0x07]

    # -- coprocessor and transceive --

    def calculate_crc(self, data: bytes) -> bytes:
        """CRC_A of `data` by the chip's coprocessor, low byte first (as sent on air)."""
        self.write_register(COMMAND_REG, CMD_IDLE)
        self.write_register(DIV_IRQ_REG, CRC_IRQ)  # Set2=0: clear CRCIRq
        self.write_register(FIFO_LEVEL_REG, 0x80)
        self.write_register(FIFO_DATA_REG, *data)
        self.write_register(COMMAND_REG, CMD_CALC_CRC)
        for attempt in range(8):
            div_irq, low, high, version = self.read_registers(
                (DIV_IRQ_REG, CRC_RESULT_L_REG, CRC_RESULT_H_REG, VERSION_REG)
            )
            if version in (0x00, 0xFF):
                raise ChipNotResponding(f"version register reads 0x{version:02X}", device=self.device)
            if div_irq & CRC_IRQ:
                self.write_register(COMMAND_REG, CMD_IDLE)
                return bytes([low, high])
            if attempt >= 2:
                self._sleep(0.0005)
        raise ChipNotResponding("CRC coprocessor did not finish", device=self.device)

    def _check_crc(self, data: bytes) -> bytes:
        """Strip and verify the CRC_A a card appended."""
        if len(data) < 3:
            raise ProtocolError(f"{len(data)}-byte answer has no room for a CRC", device=self.device)
        body, crc = data[:-2], data[-2:]
        if self.calculate_crc(body) != crc:
            raise CRCError("CRC_A mismatch in the card's answer", device=self.device)
        return body

    def _wait(self, wait_irq: int) -> _Status:
        """Poll ComIrqReg until `wait_irq`, an error or the chip's timer; sleeps grow
        from 0.2 ms; a wall-clock limit catches a chip whose timer never fires."""
        timer_s = (self._reload + 1) * _TICK_S if self._reload is not None else 0.0
        deadline = self._clock() + max(self.safety_s, 2 * timer_s)
        delay = 0.0002
        while True:
            status = self._status()
            if status.irq & (wait_irq | ERR_IRQ):
                return status
            if status.irq & TIMER_IRQ:
                raise Timeout("the card did not answer in time", device=self.device)
            if self._clock() >= deadline:
                raise ChipNotResponding(
                    "no interrupt within the safety limit: the chip's timer has stopped",
                    device=self.device,
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.004)

    def transceive_frame(
        self,
        data: bytes,
        *,
        tx_last_bits: int = 0,
        rx_align: int = 0,
        timeout_s: float | None = None,
    ) -> Frame:
        """Send a frame and return the card's answer; collisions are returned, not raised."""
        self._set_timeout(self.timeout_s if timeout_s is None else timeout_s)
        self.write_register(COMMAND_REG, CMD_IDLE)
        self.write_register(COM_IRQ_REG, 0x7F)  # Set1=0: clear every interrupt
        self.write_register(FIFO_LEVEL_REG, 0x80)
        self.write_register(FIFO_DATA_REG, *data)
        self.write_register(COMMAND_REG, CMD_TRANSCEIVE)
        self.write_register(BIT_FRAMING_REG, 0x80 | (rx_align << 4) | tx_last_bits)
        status = self._wait(RX_IRQ)
        if status.error & BUFFER_OVFL:
            raise ProtocolError("FIFO overflow", device=self.device)
        if status.error & PARITY_ERR:
            raise ProtocolError("parity error in the card's answer", device=self.device)
        if status.error & PROTOCOL_ERR:
            raise ProtocolError("protocol error", device=self.device)
        collision: int | None = None
        if status.error & COLL_ERR:
            if status.coll & 0x20:
                raise CollisionError("collision at an unknown position", device=self.device)
            collision = ((status.coll & 0x1F) or 32) - 1
        received = self._read_fifo(status.fifo_level)
        last_bits = status.control & 0x07
        return Frame(received, last_bits or 8, collision)

    def transceive(self, data: bytes, *, tx_last_bits: int = 0, timeout_s: float | None = None) -> Frame:
        """Send a frame; raise CollisionError if several cards answered."""
        frame = self.transceive_frame(data, tx_last_bits=tx_last_bits, timeout_s=timeout_s)
        if frame.collision_bit is not None:
            raise CollisionError("several cards answered", bit=frame.collision_bit, device=self.device)
        return frame

    def _read_fifo(self, count: int) -> bytes:
        if count <= 0:
            return b""
        return bytes(self.read_registers([FIFO_DATA_REG] * count))
