"""Our MFRC522 driver, as the card reader uses it: MIFARE Classic (authenticate, read
and write a block) on ISO 14443A, over an injected spidev-like transport.

Why not the `mfrc522` package: it imports RPi.GPIO at import time, busy-waits about
2,000 register reads on an empty field, ignores the chip's timer, cannot read 7-byte
UIDs and reports failures as status integers. Ours is in layers, one module each:

* drivers.mfrc522_pcd: the chip (registers, FIFO, timer, antenna, CRC coprocessor,
  Transceive) behind any object with `xfer2(list[int]) -> list[int]` (a real
  `spidev.SpiDev`, or `hal_sim.mfrc522_chip.EmulatedMFRC522`); every wait bounded by
  the chip's own timer and a wall-clock safety limit; a silent board noticed at once;
* drivers.iso14443a: REQA/WUPA, anticollision and SELECT over cascade levels 1 and 2
  (4- and 7-byte UIDs, BCC and CRC_A checked), collisions resolved or reported, HLTA;
* this module: MIFARE Classic on top, in `MFRC522`, the class the reader polls;
* drivers.mfrc522_errors: typed errors that carry the device and a stable code;
* drivers.mfrc522_spi: the Pi's SPI device and the NRSTPD pin (`open_reset_line()`,
  gpiozero), held high (run) from the moment it is opened; a hard reset (a low pulse,
  then high) revives a board that stopped answering SPI, which a soft reset, itself
  an SPI command, cannot reach.

Importing any of them touches no hardware; `spidev` and gpiozero are imported inside
`open_spi()` and `open_reset_line()`.
"""

from __future__ import annotations

from drivers.card_chip import (
    MIFARE_ACK,
    PICC_AUTH_KEY_A,
    PICC_AUTH_KEY_B,
    PICC_READ,
    PICC_WRITE,
    sector_trailer,
)
from drivers.iso14443a import Iso14443aPcd
from drivers.mfrc522_errors import AuthError, ProtocolError, Timeout
from drivers.mfrc522_pcd import (
    BUFFER_OVFL,
    CMD_IDLE,
    CMD_MF_AUTHENT,
    COM_IRQ_REG,
    COMMAND_REG,
    CRC_ERR,
    FIFO_DATA_REG,
    FIFO_LEVEL_REG,
    IDLE_IRQ,
    MF_CRYPTO1_ON,
    PARITY_ERR,
    PROTOCOL_ERR,
    STATUS2_REG,
)

__all__ = ["MFRC522", "sector_trailer"]


class MFRC522(Iso14443aPcd):
    """One MFRC522 chip behind `spi`, as the card reader uses it: MIFARE Classic
    authentication, reads and writes, on ISO 14443A (drivers.iso14443a) over the chip's
    registers (drivers.mfrc522_pcd, whose constructor it takes). Not thread-safe: one
    owner (the poller) at a time."""


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
