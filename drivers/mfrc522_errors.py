"""The card reader's errors: each carries the device and a stable code, which is what a
technician sees (docs/fault-codes.md); the driver's layers (drivers.mfrc522_pcd,
drivers.iso14443a, drivers.mfrc522) and drivers.card_reader share them."""

from __future__ import annotations

from drivers.device_errors import DeviceError

DEVICE = "card_reader"


class MFRC522Error(DeviceError):
    """Base of the reader's errors; `device` and `code` are what a technician sees."""

    device = DEVICE
    code = "reader-error"


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
