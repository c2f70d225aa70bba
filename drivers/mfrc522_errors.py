"""The MFRC522 driver's errors: the card reader's own (drivers.card_errors, shared with
the PN5180 card chip) under the names the MFRC522 layers have always used, plus the
one only the MFRC522's SPI wiring raises."""

from __future__ import annotations

from drivers.card_errors import (
    DEVICE,
    AuthError,
    CardReaderError,
    ChipNotResponding,
    CollisionError,
    CRCError,
    NoCard,
    ProtocolError,
    Timeout,
)

MFRC522Error = CardReaderError  # the old name of the reader's base error

__all__ = [
    "DEVICE",
    "AuthError",
    "CRCError",
    "ChipNotResponding",
    "CollisionError",
    "MFRC522Error",
    "NoCard",
    "ProtocolError",
    "SpiUnavailable",
    "Timeout",
]


class SpiUnavailable(ChipNotResponding):
    """The SPI device cannot be opened (no spidev module, no /dev/spidev*)."""
