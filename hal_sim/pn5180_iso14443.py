"""The ISO 14443A side of the emulated PN5180 (hal_sim.pn5180_chip): what its
transceiver makes of a SEND_DATA and a MIFARE_AUTHENTICATE in ISO 14443A mode, against
the same `hal_sim.rf_field.RfField` of `hal_sim.cards.VirtualCard`s the emulated
MFRC522 uses, so one card works on both chips.

Modelled: short and bit-oriented frames (the valid bits of the last byte), the chip's
CRC_A on transmit (appended, whatever the frame) and on receive (checked and stripped;
a wrong CRC, or a partial byte while the check is on, sets the integrity flag),
RX_BIT_ALIGN, collisions between cards answering at once (the first collided bit's
position, RxAlign included; bits after it cleared unless VALUES_AFTER_COLLISION),
Crypto1 as the session flag the cards check (frames travel in clear, as in
hal_sim.cards), and MIFARE_AUTHENTICATE against the selected card's sector key.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal_sim.cards import CardState, bits_to_bytes, bytes_to_bits, crc_a
from hal_sim.rf_field import RfField, superpose

# RX_STATUS fields (datasheet): byte count, valid bits of the last byte, flags, position.
LAST_BITS_SHIFT, INTEGRITY, PROTOCOL, COLLISION, COLL_POS_SHIFT = 13, 1 << 16, 1 << 17, 1 << 18, 19
# MIFARE_AUTHENTICATE status bytes.
AUTH_OK, AUTH_REFUSED, AUTH_TIMEOUT = 0x00, 0x01, 0x02


@dataclass(frozen=True)
class Reception:
    """What the receiver put in the RX buffer, and RX_STATUS describing it."""

    data: bytes
    last_bits: int  # 0: the last byte is whole
    collision_bit: int | None
    integrity_error: bool

    @property
    def rx_status(self) -> int:
        status = len(self.data) | (self.last_bits << LAST_BITS_SHIFT)
        if self.integrity_error:
            status |= INTEGRITY
        if self.collision_bit is not None:
            status |= COLLISION | ((self.collision_bit & 0x7F) << COLL_POS_SHIFT)
        return status


class CardAir:
    """The cards in reach of the PN5180's antenna, as its ISO 14443A transceiver hears them."""

    def __init__(self, field: RfField) -> None:
        self.field = field

    def transceive(
        self,
        data: bytes,
        valid_bits: int,
        *,
        crc_tx: bool,
        crc_rx: bool,
        rx_align: int,
        values_after_collision: bool,
        crypto_on: bool,
    ) -> Reception | None:
        """One SEND_DATA (`valid_bits` of the last byte, 0 = all); None: nobody answered."""
        bits = bytes_to_bits(data)
        if valid_bits and bits:
            bits = bits[: len(bits) - 8 + valid_bits]
        if crc_tx:
            bits += bytes_to_bits(crc_a(data))
        replies = self.field.exchange(bits, crypto_on=crypto_on)
        if not replies:
            return None
        heard, collision = superpose(replies)
        if collision is not None and not values_after_collision:
            heard[collision:] = [0] * (len(heard) - collision)
        stored = [0] * rx_align + heard
        received = bits_to_bytes(stored)
        last_bits = len(stored) % 8
        integrity = False
        if crc_rx:
            if last_bits == 0 and len(received) >= 3:
                integrity = crc_a(received[:-2]) != received[-2:]
                received = received[:-2]
            else:
                integrity = True
        position = None if collision is None else rx_align + collision
        return Reception(received, last_bits, position, integrity)

    def authenticate(self, key_type: int, block: int, key: bytes, uid4: bytes) -> int:
        """MIFARE_AUTHENTICATE's status byte: OK (Crypto1 on), REFUSED (wrong key, or
        the UID bytes are not the card's), TIMEOUT (no selected card in the field)."""
        active = [card for card in self.field.cards if card.state is CardState.ACTIVE]
        if not self.field.energised or not active:
            return AUTH_TIMEOUT
        return AUTH_OK if self.field.authenticate(key_type, block, key, uid4) else AUTH_REFUSED
