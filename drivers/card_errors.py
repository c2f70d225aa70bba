"""The card reader's errors, whichever chip reads the cards (MFRC522 or PN5180): each
carries the device and a stable code, which is what a technician sees
(docs/fault-codes.md). The chip drivers raise them and drivers.card_reader catches
them, so the poller never needs to know which chip it polls."""

from __future__ import annotations

from drivers.device_errors import DeviceError

DEVICE = "card_reader"


class CardReaderError(DeviceError):
    """Base of the reader's errors; `device` and `code` are what a technician sees."""

    device = DEVICE
    code = "reader-error"


class ChipNotResponding(CardReaderError):
    """The chip does not answer: version 0x00/0xFF, no interrupt at all within the
    safety limit, BUSY stuck (PN5180). Re-initialise; if that fails, it's a fault."""

    code = "reader-silent"


class Timeout(CardReaderError):
    """The chip's timer expired: the card did not answer the command in time."""

    code = "timeout"


class NoCard(Timeout):
    """No card answered REQA/WUPA: the field is empty (or every card is asleep for REQA)."""

    code = "no-card"


class CollisionError(CardReaderError):
    """Several cards answered at once. `bit` is the UID bit of the first collision."""

    code = "collision"

    def __init__(self, message: str, *, bit: int | None = None, device: str = DEVICE) -> None:
        super().__init__(message, device=device)
        self.bit = bit


class CRCError(CardReaderError):
    """A card's answer arrived with a wrong CRC_A (noise, or the card left mid-frame)."""

    code = "crc"


class AuthError(CardReaderError):
    """MIFARE Classic authentication failed: wrong key, or access bits forbid it."""

    code = "auth"


class ProtocolError(CardReaderError):
    """A frame that breaks ISO 14443A/MIFARE rules: bad BCC, NAK, parity, odd length."""

    code = "protocol"
