"""Our MFRC522 driver: register level, over an injected spidev-like transport.

Why not the `mfrc522` package: it imports RPi.GPIO at import time, busy-waits about
2,000 register reads on an empty field, ignores the chip's timer, cannot read 7-byte
UIDs and reports failures as status integers. This driver:

* takes any object with `xfer2(list[int]) -> list[int]` (`open_spi()` gives a real
  `spidev.SpiDev`, `hal_sim.mfrc522_chip.EmulatedMFRC522` an emulated chip);
* bounds every wait by the chip's own timer (TAuto), plus a wall-clock safety limit
  for a chip that stopped counting, and polls with short, growing sleeps;
* uses multi-register reads and FIFO bursts, so an empty poll costs about ten SPI
  transfers;
* reads the version register with every status read, so a board that stopped
  answering (reads 0x00 or 0xFF) is noticed at once as `ChipNotResponding`;
* selects cards over cascade levels 1 and 2 (4- and 7-byte UIDs), checks BCC and
  CRC_A (computed by the chip's CRC coprocessor), resolves or reports collisions;
* raises typed errors that carry the device and a stable code;
* drives the chip's NRSTPD pin when it is given a `ResetLine` (`open_reset_line()`,
  gpiozero): the pin is held high (run) from the moment it is opened, and a hard reset
  (a low pulse, then high) revives a board that stopped answering SPI, which a soft
  reset, itself an SPI command, cannot reach.

Importing this module touches no hardware; `spidev` is imported inside `open_spi()`,
gpiozero inside `open_reset_line()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DEVICE = "card_reader"

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

# PICC commands.
PICC_REQA, PICC_WUPA, PICC_HLTA = 0x26, 0x52, 0x50
PICC_AUTH_KEY_A, PICC_AUTH_KEY_B, PICC_READ, PICC_WRITE = 0x60, 0x61, 0x30, 0xA0
SEL_CODES = (0x93, 0x95)  # cascade levels 1 and 2
CASCADE_TAG = 0x88
MIFARE_ACK = 0x0A

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


class MFRC522Error(Exception):
    """Base of the reader's errors; `device` and `code` are what a technician sees."""

    code = "reader-error"

    def __init__(self, message: str, *, device: str = DEVICE, code: str | None = None) -> None:
        super().__init__(message)
        self.device = device
        if code is not None:
            self.code = code


class ChipNotResponding(MFRC522Error):
    """The chip does not answer: version register 0x00/0xFF, or no interrupt at all
    within the safety limit (its timer stopped). Re-initialise; if that fails, it's a fault."""

    code = "reader-silent"


class SpiUnavailable(ChipNotResponding):
    """The SPI device cannot be opened (no spidev module, no /dev/spidev*)."""


class Timeout(MFRC522Error):
    """The chip's timer expired: the card did not answer the command in time."""

    code = "timeout"


class NoCard(Timeout):
    """No card answered REQA/WUPA: the field is empty (or every card is asleep for REQA)."""

    code = "no-card"


class CollisionError(MFRC522Error):
    """Several cards answered at once. `bit` is the UID bit of the first collision."""

    code = "collision"

    def __init__(self, message: str, *, bit: int | None = None, device: str = DEVICE) -> None:
        super().__init__(message, device=device)
        self.bit = bit


class CRCError(MFRC522Error):
    """A card's answer arrived with a wrong CRC_A (noise, or the card left mid-frame)."""

    code = "crc"


class AuthError(MFRC522Error):
    """MIFARE Classic authentication failed: wrong key, or access bits forbid it."""

    code = "auth"


class ProtocolError(MFRC522Error):
    """A frame that breaks ISO 14443A/MIFARE rules: bad BCC, NAK, parity, odd length."""

    code = "protocol"


@dataclass(frozen=True)
class Frame:
    """Bytes received from a card; `last_bits` is how many bits of the last byte are
    valid (8 for whole bytes); `collision_bit` is the FIFO bit position (0-based,
    RxAlign included) of the first collision, or None."""

    data: bytes
    last_bits: int = 8
    collision_bit: int | None = None


@dataclass(frozen=True)
class SelectedCard:
    """A card brought to ACTIVE: its full UID (4 or 7 bytes) and final SAK."""

    uid: bytes
    sak: int

    @property
    def is_mifare_classic(self) -> bool:
        return self.sak in (0x08, 0x18, 0x09, 0x88)


@dataclass(frozen=True)
class _Status:
    irq: int
    error: int
    fifo_level: int
    control: int
    coll: int
    version: int


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def sector_trailer(block: int) -> int:
    """The trailer block guarding `block` (1K/4K layouts: 4-block, then 16-block sectors)."""
    if block < 128:
        return block | 0x03
    return block | 0x0F


class MFRC522:
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

    # -- ISO 14443A --

    def request_a(self) -> bytes:
        """REQA: wakes IDLE cards (not halted ones); returns the ATQA."""
        return self._short_frame(PICC_REQA)

    def wakeup_a(self) -> bytes:
        """WUPA: wakes IDLE and HALTED cards; returns the ATQA. Raises NoCard."""
        return self._short_frame(PICC_WUPA)

    def _short_frame(self, command: int) -> bytes:
        try:
            frame = self.transceive_frame(bytes([command]), tx_last_bits=7, timeout_s=self.poll_timeout_s)
        except Timeout as exc:
            raise NoCard("no card in the field", device=self.device) from exc
        # Different card types give different ATQAs; a collision still means "a card".
        if len(frame.data) != 2 or frame.last_bits != 8:
            if frame.collision_bit is not None:
                return frame.data
            raise ProtocolError(f"ATQA of {len(frame.data)} bytes", device=self.device)
        return frame.data

    def _anticollision_step(self, level: int, known: bytearray, known_bits: int) -> tuple[int, int | None]:
        """One ANTICOLLISION frame at `level` with `known_bits` of the 40 CLn bits.
        Merges the answer into `known`; returns (bits now known, UID bit of collision)."""
        whole, extra = divmod(known_bits, 8)
        nvb = ((2 + whole) << 4) | extra
        sent = bytes([SEL_CODES[level], nvb]) + bytes(known[: whole + (1 if extra else 0)])
        frame = self.transceive_frame(
            sent, tx_last_bits=extra, rx_align=extra, timeout_s=self.poll_timeout_s
        )
        answer = frame.data
        valid_until = 40 if frame.collision_bit is None else whole * 8 + frame.collision_bit
        for i, byte in enumerate(answer):
            index = whole + i
            if index >= 5:
                break
            mask = 0xFF
            if i == 0:
                mask &= (0xFF << extra) & 0xFF  # bits below RxAlign are ours, not the card's
            limit = valid_until - index * 8
            if limit < 8:
                mask &= (1 << max(limit, 0)) - 1
            known[index] = (known[index] & ~mask & 0xFF) | (byte & mask)
        if frame.collision_bit is None:
            return 40, None
        if valid_until < known_bits:
            raise ProtocolError("collision reported inside the known bits", device=self.device)
        return valid_until, valid_until

    def select(self, *, resolve_collisions: bool = False) -> SelectedCard:
        """Anticollision and SELECT over cascade levels 1 and 2 after REQA/WUPA.

        With `resolve_collisions` the branch with a 1 bit is followed at every
        collision (one card gets selected, the others stay READY); without it a
        collision raises CollisionError: one card at a time.
        """
        uid = b""
        for level in range(len(SEL_CODES)):
            known = bytearray(5)
            known_bits = 0
            for _ in range(41):
                known_bits, collision = self._anticollision_step(level, known, known_bits)
                if collision is None:
                    break
                if not resolve_collisions:
                    raise CollisionError("several cards in the field", bit=collision, device=self.device)
                known[collision // 8] |= 1 << (collision % 8)
                known_bits = collision + 1
            else:
                raise ProtocolError("anticollision did not converge", device=self.device)
            if _xor(known[:4]) != known[4]:
                raise ProtocolError("UID check byte (BCC) mismatch", device=self.device)
            sak = self._select_level(level, bytes(known))
            if sak & 0x04:
                if known[0] != CASCADE_TAG:
                    raise ProtocolError("SAK says cascade but no cascade tag", device=self.device)
                uid += bytes(known[1:4])
                continue
            return SelectedCard(uid + bytes(known[:4]), sak)
        raise ProtocolError("UIDs longer than 7 bytes are not supported", device=self.device)

    def _select_level(self, level: int, cln: bytes) -> int:
        body = bytes([SEL_CODES[level], 0x70]) + cln
        frame = self.transceive(body + self.calculate_crc(body), timeout_s=self.poll_timeout_s)
        answer = self._check_crc(frame.data)
        if len(answer) != 1:
            raise ProtocolError(f"SAK of {len(answer)} bytes", device=self.device)
        return answer[0]

    def count_cards(self, *, limit: int = 8) -> int:
        """How many cards answer anticollision at level 1 (after REQA/WUPA), walking the
        collision tree with ANTICOLLISION frames only, so every card stays READY.
        Counts distinct level-1 UID parts, up to `limit`."""
        count = 0
        pending: list[tuple[bytearray, int]] = [(bytearray(5), 0)]
        while pending and count < limit:
            known, known_bits = pending.pop()
            try:
                known_bits, collision = self._anticollision_step(0, known, known_bits)
            except Timeout:
                continue
            if collision is None:
                count += 1
                continue
            for bit in (0, 1):
                branch = bytearray(known)
                if bit:
                    branch[collision // 8] |= 1 << (collision % 8)
                else:
                    branch[collision // 8] &= ~(1 << (collision % 8)) & 0xFF
                pending.append((branch, collision + 1))
        return count

    def halt(self) -> None:
        """HLTA: the ACTIVE card goes to HALT (silence is the success answer)."""
        body = bytes([PICC_HLTA, 0x00])
        try:
            frame = self.transceive(body + self.calculate_crc(body), timeout_s=self.poll_timeout_s)
        except Timeout:
            return
        raise ProtocolError(f"card answered HLTA with {frame.data.hex()}", device=self.device)

    # -- MIFARE Classic --

    def authenticate(self, block: int, key: bytes, uid: bytes, *, key_type: str = "A") -> None:
        """MFAuthent for `block`'s sector; on success the chip's Crypto1 is on.
        Uses the last four UID bytes, as 7-byte-UID MIFARE cards expect."""
        if len(key) != 6 or key_type not in ("A", "B"):
            raise ValueError("key is 6 bytes, key_type 'A' or 'B'")
        command = PICC_AUTH_KEY_A if key_type == "A" else PICC_AUTH_KEY_B
        self._set_timeout(self.timeout_s)
        self.write_register(COMMAND_REG, CMD_IDLE)
        self.write_register(COM_IRQ_REG, 0x7F)
        self.write_register(FIFO_LEVEL_REG, 0x80)
        self.write_register(FIFO_DATA_REG, command, block, *key, *uid[-4:])
        self.write_register(COMMAND_REG, CMD_MF_AUTHENT)
        try:
            status = self._wait(IDLE_IRQ)
        except Timeout as exc:
            raise AuthError(f"authentication for block {block} failed", device=self.device) from exc
        if status.error & (PROTOCOL_ERR | PARITY_ERR | CRC_ERR | BUFFER_OVFL):
            raise AuthError(f"authentication error 0x{status.error:02X}", device=self.device)
        if not self.crypto1_on():
            raise AuthError("authentication ended without Crypto1", device=self.device)

    def crypto1_on(self) -> bool:
        return bool(self.read_register(STATUS2_REG) & MF_CRYPTO1_ON)

    def stop_crypto1(self) -> None:
        """Leave the authenticated session (needed before talking to another card)."""
        self.clear_bits(STATUS2_REG, MF_CRYPTO1_ON)

    def read_block(self, block: int) -> bytes:
        """READ one 16-byte block of the authenticated sector; CRC_A checked."""
        body = bytes([PICC_READ, block])
        frame = self.transceive(body + self.calculate_crc(body))
        if frame.last_bits == 4 and len(frame.data) == 1:
            raise AuthError(f"card refused to read block {block} (NAK 0x{frame.data[0]:X})", device=self.device)
        if len(frame.data) != 18:
            raise ProtocolError(f"READ answer of {len(frame.data)} bytes", device=self.device)
        return self._check_crc(frame.data)

    def write_block(self, block: int, data: bytes) -> None:
        """WRITE one 16-byte block (two phases, each acknowledged with 0xA)."""
        if len(data) != 16:
            raise ValueError("a block is 16 bytes")
        for body in (bytes([PICC_WRITE, block]), bytes(data)):
            frame = self.transceive(body + self.calculate_crc(body))
            if frame.last_bits != 4 or len(frame.data) != 1 or frame.data[0] & 0x0F != MIFARE_ACK:
                raise AuthError(f"card refused to write block {block}", device=self.device)


def open_spi(bus: int = 0, device: int = 0, max_speed_hz: int = 1_000_000) -> Any:
    """Open /dev/spidev{bus}.{device} for the MFRC522 (SPI mode 0). `spidev` is imported
    here, not at module top, so this module imports on machines without it."""
    try:
        import spidev
    except ImportError as exc:
        raise SpiUnavailable(f"spidev is not installed: {exc}") from exc
    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
    except OSError as exc:
        raise SpiUnavailable(f"/dev/spidev{bus}.{device} cannot be opened: {exc}") from exc
    spi.max_speed_hz = max_speed_hz
    spi.mode = 0
    return spi


class GpioResetLine:
    """NRSTPD on a GPIO pin through gpiozero: driven high (run) when opened; see
    `hard_reset`. `close()` is idempotent and releases the pin."""

    def __init__(
        self,
        pin: int | str,
        *,
        pin_factory: Any = None,
        pulse_s: float = 0.001,
        startup_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from gpiozero import DigitalOutputDevice  # the backend is chosen here, not at import

        self.pulse_s = pulse_s
        self.startup_s = startup_s
        self._sleep = sleep
        self._output = DigitalOutputDevice(pin, initial_value=True, pin_factory=pin_factory)
        self._closed = False

    def hard_reset(self) -> None:
        """Low for `pulse_s` (the datasheet asks for 100 ns), then high, then wait
        `startup_s` for the crystal (its start-up time plus 37.74 µs, datasheet 8.8.2;
        50 ms covers every board seen)."""
        self._output.off()
        self._sleep(self.pulse_s)
        self._output.on()
        self._sleep(self.startup_s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._output.close()


def open_reset_line(pin: int | str, *, pin_factory: Any = None) -> GpioResetLine:
    """The MFRC522's NRSTPD pin (BCM number), driven high at once; `pin_factory` None is
    gpiozero's default (lgpio on a Pi), the simulator passes its own."""
    return GpioResetLine(pin, pin_factory=pin_factory)
