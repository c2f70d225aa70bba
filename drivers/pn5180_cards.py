"""Reader cards (ISO 14443A, MIFARE Classic 1K) on an NXP PN5180, so one PN5180 can
replace the MFRC522: `PN5180CardChip` offers the card poller (drivers.card_reader)
what drivers.mfrc522.MFRC522 offers (drivers.card_chip.CardChip), over
drivers.pn5180_host, and raises the same drivers.card_errors.

How it speaks ISO 14443A (NXP PN5180 datasheet; NXP's reader library and
ATrappmann/PN5180-Library were read for register use, not copied):

* LOAD_RF_CONFIG 0x00/0x80 (ISO 14443A 106 kbit/s), MFC_CRYPTO_ON cleared, RF_ON;
* TIMER1 is the receive timeout: 13.56 MHz ticks, started when a transmission ends and
  stopped when a reception starts, so its IRQ means "no card answered";
* REQA/WUPA go as a 7-bit short frame (SEND_DATA's valid-bits byte 7), anticollision
  as bit-oriented frames with RX_BIT_ALIGN (CRC_RX_CONFIG bits 6..8), both with the
  chip's CRC off; SELECT, HLTA and READ with CRC_TX/RX_CONFIG bit 0 on: the chip
  appends CRC_A and checks and strips the card's. The anticollision itself is
  drivers.iso14443a's, shared with the MFRC522;
* RX_STATUS gives the byte count, the valid bits of the last byte, the integrity
  (parity/CRC) and protocol error flags, and the collision flag with the position of
  the first collided bit (RX_COLL_POS, RxAlign included);
* MIFARE_AUTHENTICATE (0x0C: key, 0x60/0x61, block, the UID's last 4 bytes) runs the
  Crypto1 handshake inside the chip and sets SYSTEM_CONFIG's MFC_CRYPTO_ON; the chip
  then encrypts every frame, so READ is the plain 0x30 block over SEND_DATA/READ_DATA,
  and clearing the bit ends the session.

A silent chip raises ChipNotResponding, which the poller answers with a hard reset on
RST (`reset_line`) and a re-initialisation: BUSY stuck high (the host's BusyStuck), no
RX or TIMER1 IRQ within the wall-clock safety limit, register values with bits the
datasheet reserves set (a MISO line reading all ones), a firmware version of
0x0000/0xFFFF, or a timer reload that does not read back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drivers.card_chip import PICC_AUTH_KEY_A, PICC_AUTH_KEY_B, PICC_READ, Frame
from drivers.card_errors import (
    DEVICE,
    AuthError,
    CardReaderError,
    ChipNotResponding,
    CollisionError,
    CRCError,
    ProtocolError,
    Timeout,
)
from drivers.iso14443a import Iso14443aProtocol
from drivers.mfrc522_pcd import ResetLine
from drivers.pn5180_host import (
    COMMAND_MASK,
    CRC_ENABLE,
    CRC_RX_CONFIG,
    CRC_TX_CONFIG,
    GENERAL_ERROR_IRQ,
    IRQ_STATUS,
    RF_CONFIG_ISO14443A,
    RF_STATUS,
    RX_IRQ,
    RX_STATUS,
    SYSTEM_CONFIG,
    TIMER1_IRQ,
    PN5180Error,
    PN5180Host,
)

# SYSTEM_CONFIG: the chip's Crypto1 is on (set by MIFARE_AUTHENTICATE).
MFC_CRYPTO_ON = 1 << 6
# TIMER1: reload value (20 bits) and configuration.
TIMER1_RELOAD, TIMER1_CONFIG = 0x0C, 0x0F
T1_ENABLE, T1_START_ON_TX_ENDED, T1_STOP_ON_RX_STARTED = 1 << 0, 1 << 11, 1 << 20
T1_CLOCK_HZ, T1_MAX_RELOAD = 13.56e6, 0xF_FFFF
# CRC_RX_CONFIG: where the first received bit goes in its byte.
RX_BIT_ALIGN_SHIFT, RX_BIT_ALIGN_MASK = 6, 0x1C0
# RX_STATUS fields beyond the byte count and the flags drivers.pn5180_host decodes.
RX_NUM_LAST_BITS_SHIFT, RX_COLL_POS_SHIFT = 13, 19
RX_DATA_INTEGRITY_ERROR, RX_PROTOCOL_ERROR, RX_COLLISION_DETECTED = 1 << 16, 1 << 17, 1 << 18
# IRQ_STATUS: the temperature sensor switched the transmitter off.
TEMPSENS_ERROR_IRQ = 1 << 16
# RF_STATUS: the chip's own field is on.
TX_RF_STATUS = 1 << 17
# Bits the datasheet reserves: a chip never sets them, a MISO line stuck high does.
IRQ_STATUS_RESERVED, RX_STATUS_RESERVED = 0xFFF0_0000, 0xFC00_0000
EEPROM_FIRMWARE_VERSION = 0x12  # 2 bytes: minor, major


@dataclass(frozen=True)
class _Rx:
    """One reception as RX_STATUS and READ_DATA describe it."""

    data: bytes
    last_bits: int  # valid bits of the last byte, 8 for whole bytes
    collision_bit: int | None
    integrity_error: bool
    protocol_error: bool


class PN5180CardChip(Iso14443aProtocol):
    """One PN5180 (behind `host`) reading reader cards; see the module doc. Not
    thread-safe: one owner (the poller) at a time.

    `timeout_s` bounds MIFARE commands, `poll_timeout_s` REQA/WUPA, anticollision,
    SELECT and HLTA (their answers come within about 0.1 ms); `safety_s` is the
    wall-clock bound for a chip whose timer never fires."""

    def __init__(
        self,
        host: PN5180Host,
        *,
        reset_line: ResetLine | None = None,
        device: str = DEVICE,
        timeout_s: float = 0.025,
        poll_timeout_s: float = 0.002,
        safety_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.reset_line = reset_line
        self.device = device
        self.timeout_s = timeout_s
        self.poll_timeout_s = poll_timeout_s
        self.safety_s = safety_s
        self._clock = clock
        self._sleep = sleep
        self._forget()

    def _forget(self) -> None:
        """What the chip holds is unknown (after a reset, a new RF config, a failure)."""
        self._crc: bool | None = None
        self._rx_align: int | None = None
        self._reload: int | None = None

    @contextlib.contextmanager
    def _talking(self) -> Iterator[None]:
        """The host's errors (BUSY stuck, no IRQ) are a silent card reader."""
        try:
            yield
        except PN5180Error as exc:
            self._forget()
            raise ChipNotResponding(str(exc), device=self.device) from exc

    # -- chip setup --

    def version(self) -> int:
        """The firmware version as one byte, major in the high nibble (4.0 is 0x40);
        0x00 or 0xFF when the EEPROM reads all zeros or all ones (no chip answering)."""
        with self._talking():
            minor, major = self.host.read_eeprom(EEPROM_FIRMWARE_VERSION, 2)
        if (minor, major) == (0x00, 0x00):
            return 0x00
        if (minor, major) == (0xFF, 0xFF):
            return 0xFF
        return ((major & 0x0F) << 4) | (minor & 0x0F)

    def init(self, *, hard_reset: bool = False) -> int:
        """(Hard reset on RST,) ISO 14443A RF config, Crypto1 off, TIMER1 as the
        receive timeout, field on. Returns the version; raises ChipNotResponding."""
        host = self.host
        with self._talking():
            if hard_reset and self.reset_line is not None:
                self.reset_line.hard_reset()
            self._forget()
            version = self.version()
            if version in (0x00, 0xFF):
                raise ChipNotResponding(f"firmware version reads 0x{version:02X}", device=self.device)
            host.load_rf_config(*RF_CONFIG_ISO14443A)
            host.and_mask(SYSTEM_CONFIG, ~MFC_CRYPTO_ON)
            host.write_register(TIMER1_CONFIG, T1_ENABLE | T1_START_ON_TX_ENDED | T1_STOP_ON_RX_STARTED)
            self._set_timeout(self.timeout_s)
            if host.read_register(TIMER1_RELOAD) != self._reload:
                raise ChipNotResponding("register writes do not stick", device=self.device)
            self.antenna_on()
        return version

    def antenna_on(self) -> None:
        with self._talking():
            if not self.antenna_is_on():
                self.host.rf_on()

    def antenna_off(self) -> None:
        with self._talking():
            self.host.rf_off()

    def antenna_is_on(self) -> bool:
        with self._talking():
            return bool(self.host.read_register(RF_STATUS) & TX_RF_STATUS)

    def temperature_error(self) -> bool:
        """The chip's temperature sensor switched the transmitter off."""
        with self._talking():
            return bool(self.host.read_register(IRQ_STATUS) & TEMPSENS_ERROR_IRQ)

    # -- settings the exchanges need, written only when they change --

    def _set_crc(self, on: bool) -> None:
        if self._crc == on:
            return
        for reg in (CRC_TX_CONFIG, CRC_RX_CONFIG):
            if on:
                self.host.or_mask(reg, CRC_ENABLE)
            else:
                self.host.and_mask(reg, ~CRC_ENABLE)
        self._crc = on

    def _set_rx_align(self, bits: int) -> None:
        if self._rx_align == bits:
            return
        self.host.and_mask(CRC_RX_CONFIG, ~RX_BIT_ALIGN_MASK)
        if bits:
            self.host.or_mask(CRC_RX_CONFIG, bits << RX_BIT_ALIGN_SHIFT)
        self._rx_align = bits

    def _set_timeout(self, seconds: float) -> None:
        reload = max(1, min(T1_MAX_RELOAD, round(seconds * T1_CLOCK_HZ)))
        if reload != self._reload:
            self.host.write_register(TIMER1_RELOAD, reload)
            self._reload = reload

    # -- one exchange --

    def _wait_rx(self, timeout_s: float) -> bool:
        """Poll IRQ_STATUS: True on RX_IRQ, False on TIMER1 (nobody answered); sleeps
        grow from 0.2 ms; a wall-clock limit catches a chip whose timer never fires."""
        deadline = self._clock() + max(self.safety_s, 2 * timeout_s)
        delay = 0.0002
        while True:
            irq = self.host.read_register(IRQ_STATUS)
            if irq & IRQ_STATUS_RESERVED:
                raise ChipNotResponding(f"IRQ_STATUS reads 0x{irq:08X}", device=self.device)
            if irq & RX_IRQ:
                return True
            if irq & TIMER1_IRQ:
                return False
            if irq & GENERAL_ERROR_IRQ:
                raise CardReaderError("the PN5180 reports a general error", device=self.device)
            if self._clock() >= deadline:
                raise ChipNotResponding(
                    "no RX or timer interrupt within the safety limit", device=self.device
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.004)

    def _exchange(
        self, data: bytes, *, last_bits: int = 0, rx_align: int = 0, crc: bool, timeout_s: float
    ) -> _Rx | None:
        """Send `data` (`last_bits` valid bits in its last byte, 0 = all) and read the
        answer; None when no card answered."""
        host = self.host
        with self._talking():
            self._set_crc(crc)
            self._set_rx_align(rx_align)
            self._set_timeout(timeout_s)
            host.clear_irqs()
            host.start_transceive()
            host.send_data(data, last_bits)
            if not self._wait_rx(timeout_s):
                return None
            raw = host.read_register(RX_STATUS)
            if raw & RX_STATUS_RESERVED:
                raise ChipNotResponding(f"RX_STATUS reads 0x{raw:08X}", device=self.device)
            received = host.read_data(raw & 0x1FF)
        collided = bool(raw & RX_COLLISION_DETECTED)
        return _Rx(
            data=received,
            last_bits=((raw >> RX_NUM_LAST_BITS_SHIFT) & 0x7) or 8,
            collision_bit=(raw >> RX_COLL_POS_SHIFT) & 0x7F if collided else None,
            integrity_error=bool(raw & RX_DATA_INTEGRITY_ERROR),
            protocol_error=bool(raw & RX_PROTOCOL_ERROR),
        )

    def _answer(self, rx: _Rx | None) -> _Rx:
        if rx is None:
            raise Timeout("the card did not answer in time", device=self.device)
        if rx.protocol_error:
            raise ProtocolError("protocol error in the card's answer", device=self.device)
        return rx

    # -- the two exchanges drivers.iso14443a walks anticollision with --

    def transceive_frame(
        self,
        data: bytes,
        *,
        tx_last_bits: int = 0,
        rx_align: int = 0,
        timeout_s: float | None = None,
    ) -> Frame:
        """Bits as they are, chip CRC off; collisions are returned, not raised."""
        rx = self._answer(
            self._exchange(
                data,
                last_bits=tx_last_bits,
                rx_align=rx_align,
                crc=False,
                timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            )
        )
        if rx.integrity_error and rx.collision_bit is None:
            raise ProtocolError("parity error in the card's answer", device=self.device)
        return Frame(rx.data, rx.last_bits, rx.collision_bit)

    def _transceive_crc(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        """`body` with CRC_A added by the chip; the answer checked and stripped by it."""
        rx = self._answer(
            self._exchange(body, crc=True, timeout_s=self.timeout_s if timeout_s is None else timeout_s)
        )
        return self._checked(rx)

    def _checked(self, rx: _Rx) -> bytes:
        if rx.collision_bit is not None:
            raise CollisionError("several cards answered", bit=rx.collision_bit, device=self.device)
        if rx.integrity_error:
            raise CRCError("CRC_A or parity error in the card's answer", device=self.device)
        return rx.data

    # -- MIFARE Classic --

    def authenticate(self, block: int, key: bytes, uid: bytes, *, key_type: str = "A") -> None:
        """MIFARE_AUTHENTICATE for `block`'s sector; on success the chip's Crypto1 is on.
        Uses the last four UID bytes, as 7-byte-UID MIFARE cards expect."""
        if len(key) != 6 or key_type not in ("A", "B"):
            raise ValueError("key is 6 bytes, key_type 'A' or 'B'")
        command = PICC_AUTH_KEY_A if key_type == "A" else PICC_AUTH_KEY_B
        with self._talking():
            self.host.and_mask(SYSTEM_CONFIG, ~COMMAND_MASK)  # Idle: the chip runs the handshake
            status = self.host.mifare_authenticate(bytes(key), command, block, bytes(uid[-4:]))
        if status != 0x00:
            reason = {0x01: "refused", 0x02: "the card did not answer"}.get(status, f"status 0x{status:02X}")
            raise AuthError(f"authentication for block {block} failed: {reason}", device=self.device)
        if not self.crypto1_on():
            raise AuthError("authentication ended without Crypto1", device=self.device)

    def crypto1_on(self) -> bool:
        with self._talking():
            return bool(self.host.read_register(SYSTEM_CONFIG) & MFC_CRYPTO_ON)

    def stop_crypto1(self) -> None:
        """Leave the authenticated session (needed before talking to another card)."""
        with self._talking():
            self.host.and_mask(SYSTEM_CONFIG, ~MFC_CRYPTO_ON)

    def read_block(self, block: int) -> bytes:
        """READ one 16-byte block of the authenticated sector; CRC_A checked by the chip."""
        rx = self._answer(self._exchange(bytes([PICC_READ, block]), crc=True, timeout_s=self.timeout_s))
        if rx.last_bits == 4 and len(rx.data) == 1:
            raise AuthError(f"card refused to read block {block} (NAK 0x{rx.data[0]:X})", device=self.device)
        data = self._checked(rx)
        if len(data) != 16:
            raise ProtocolError(f"READ answer of {len(data)} bytes", device=self.device)
        return data
