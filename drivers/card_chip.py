"""What the card reader (drivers.card_reader) needs from the chip that reads reader
cards, and the ISO 14443A / MIFARE Classic facts every such chip shares.

Two chips fit `CardChip`: the MFRC522 (drivers.mfrc522) and the PN5180
(drivers.pn5180_cards). Both raise drivers.card_errors' types, so the poller handles
a silent PN5180 exactly as a silent MFRC522.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# MIFARE Classic commands.
PICC_AUTH_KEY_A, PICC_AUTH_KEY_B, PICC_READ, PICC_WRITE = 0x60, 0x61, 0x30, 0xA0
MIFARE_ACK = 0x0A


def sector_trailer(block: int) -> int:
    """The trailer block guarding `block` (1K/4K layouts: 4-block, then 16-block sectors)."""
    if block < 128:
        return block | 0x03
    return block | 0x0F


@dataclass(frozen=True)
class SelectedCard:
    """A card brought to ACTIVE: its full UID (4 or 7 bytes) and final SAK."""

    uid: bytes
    sak: int

    @property
    def is_mifare_classic(self) -> bool:
        return self.sak in (0x08, 0x18, 0x09, 0x88)


@dataclass(frozen=True)
class Frame:
    """Bytes received from a card; `last_bits` is how many bits of the last byte are
    valid (8 for whole bytes); `collision_bit` is the received bit position (0-based,
    RxAlign included) of the first collision, or None."""

    data: bytes
    last_bits: int = 8
    collision_bit: int | None = None


class CardChip(Protocol):
    """A reader chip as the card poller drives it. Errors are drivers.card_errors':
    NoCard (empty field), CollisionError, AuthError, ChipNotResponding (silent chip,
    re-initialise), and their base CardReaderError for the rest."""

    def init(self, *, hard_reset: bool = False) -> int:
        """Reset and configure the chip, antenna on; returns `version()`."""
        ...

    def wakeup_a(self) -> bytes:
        """WUPA; the ATQA. Raises NoCard."""
        ...

    def select(self, *, resolve_collisions: bool = False) -> SelectedCard: ...

    def count_cards(self, *, limit: int = 8) -> int: ...

    def halt(self) -> None: ...

    def authenticate(self, block: int, key: bytes, uid: bytes, *, key_type: str = "A") -> None: ...

    def read_block(self, block: int) -> bytes: ...

    def crypto1_on(self) -> bool: ...

    def stop_crypto1(self) -> None: ...

    def antenna_on(self) -> None: ...

    def antenna_off(self) -> None: ...

    def antenna_is_on(self) -> bool: ...

    def version(self) -> int:
        """One byte naming the chip's version; 0x00 and 0xFF mean a chip that does not answer."""
        ...

    def temperature_error(self) -> bool: ...
