"""Virtual ISO 14443A / MIFARE Classic 1K cards for the emulated MFRC522.

A card is the PICC side of the RF conversation: it keeps the ISO 14443-3 state
(idle, ready at a cascade level, active, halted), answers REQA/WUPA, bit-oriented
anticollision, SELECT and HLTA, and holds MIFARE Classic 1K memory guarded by the
sector trailers' keys and access bits. The chip emulator (`hal_sim.mfrc522_chip`)
decides who hears what; a card only answers the frames it is given.

Crypto1 itself is not modelled: once authenticated, frames travel in clear, but the
card still insists that reader and card agree on whether the session is encrypted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum

CASCADE_TAG = 0x88
SEL_CODES = (0x93, 0x95, 0x97)
REQA = 0x26
WUPA = 0x52
HLTA = 0x50
MF_AUTH_KEY_A = 0x60
MF_AUTH_KEY_B = 0x61
MF_READ = 0x30
MF_WRITE = 0xA0
ACK = 0x0A
NAK_INVALID = 0x04

DEFAULT_KEY = b"\xff" * 6
# Transport configuration: data blocks read/write with key A or B, trailer: key A
# writes keys, access bits readable with key A, key B readable (so unusable) with key A.
DEFAULT_ACCESS = bytes([0xFF, 0x07, 0x80, 0x69])
LIBRARY_CARD_BLOCKS = (8, 9, 10)
LIBRARY_CARD_TEXT_LEN = 16 * len(LIBRARY_CARD_BLOCKS)


def crc_a(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A (preset 0x6363), low byte first, as it goes on the air."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
        crc &= 0xFFFF
    return bytes([crc & 0xFF, crc >> 8])


def bcc(data: bytes) -> int:
    """Block check character: XOR of the UID bytes of one cascade level."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def bytes_to_bits(data: bytes, nbits: int | None = None) -> list[int]:
    """Bits in air order (each byte least significant bit first)."""
    bits = [(byte >> i) & 1 for byte in data for i in range(8)]
    return bits if nbits is None else bits[:nbits]


def bits_to_bytes(bits: list[int]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def cascade_levels(uid: bytes) -> list[bytes]:
    """The 5-byte CLn strings (UID part + BCC) a card answers anticollision with."""
    if len(uid) == 4:
        parts = [uid]
    elif len(uid) == 7:
        parts = [bytes([CASCADE_TAG]) + uid[:3], uid[3:]]
    else:
        raise ValueError(f"UID must be 4 or 7 bytes, not {len(uid)}")
    return [part + bytes([bcc(part)]) for part in parts]


def decode_access_bits(access: bytes) -> list[tuple[int, int, int]] | None:
    """(C1, C2, C3) for blocks 0..3 of a sector, or None if the inverted copies disagree."""
    b6, b7, b8 = access[0], access[1], access[2]
    c1, c2, c3 = b7 >> 4, b8 & 0x0F, b8 >> 4
    if (b6 & 0x0F) != (~c1 & 0x0F) or (b6 >> 4) != (~c2 & 0x0F) or (b7 & 0x0F) != (~c3 & 0x0F):
        return None
    return [((c1 >> b) & 1, (c2 >> b) & 1, (c3 >> b) & 1) for b in range(4)]


def encode_access_bits(conditions: list[tuple[int, int, int]], user_byte: int = 0x69) -> bytes:
    """Inverse of `decode_access_bits`; handy for tests that lock a sector down."""
    c1 = sum(c[0] << b for b, c in enumerate(conditions))
    c2 = sum(c[1] << b for b, c in enumerate(conditions))
    c3 = sum(c[2] << b for b, c in enumerate(conditions))
    b6 = ((~c2 & 0x0F) << 4) | (~c1 & 0x0F)
    b7 = (c1 << 4) | (~c3 & 0x0F)
    b8 = (c3 << 4) | c2
    return bytes([b6, b7, b8, user_byte])


# Data block conditions -> (keys that may read, keys that may write); "A"/"B" letters.
_DATA_RIGHTS: dict[tuple[int, int, int], tuple[str, str]] = {
    (0, 0, 0): ("AB", "AB"),
    (0, 1, 0): ("AB", ""),
    (1, 0, 0): ("AB", "B"),
    (1, 1, 0): ("AB", "B"),
    (0, 0, 1): ("AB", ""),
    (0, 1, 1): ("B", "B"),
    (1, 0, 1): ("B", ""),
    (1, 1, 1): ("", ""),
}
# Trailer conditions whose key B is readable (and therefore not usable as a key).
_KEY_B_READABLE = {(0, 0, 0), (0, 1, 0), (0, 0, 1)}


class CardState(Enum):
    IDLE = "idle"
    READY = "ready"
    ACTIVE = "active"
    HALT = "halted"


@dataclass
class Reply:
    """What a card sends back: `bits` in air order (ACK/NAK are 4 bits long)."""

    bits: list[int]

    @classmethod
    def of(cls, data: bytes, nbits: int | None = None) -> Reply:
        return cls(bytes_to_bits(data, nbits))


@dataclass(eq=False)
class VirtualCard:
    """A MIFARE Classic 1K card with a 4- or 7-byte UID.

    `state` follows ISO 14443-3; `present()` on the field powers the card up (IDLE),
    so a card taken away and brought back starts over, like a real one.
    """

    uid: bytes
    memory: bytearray = field(default_factory=lambda: bytearray(1024))
    sak: int = 0x08
    state: CardState = CardState.IDLE
    level: int = 0
    woke_from_halt: bool = False
    calls: int = 0  # REQA/WUPA frames heard: how a test knows the reader polled it
    auth_sector: int | None = None
    auth_key: str | None = None
    pending_write: int | None = None

    def __post_init__(self) -> None:
        self.uid = bytes(self.uid)
        cascade_levels(self.uid)  # validates the length
        if self.uid[0] == CASCADE_TAG:
            raise ValueError("UID byte 0 must not be the cascade tag 0x88")
        if len(self.memory) != 1024:
            raise ValueError("a MIFARE Classic 1K card has 1024 bytes")

    @classmethod
    def blank(cls, uid: bytes, *, key_a: bytes = DEFAULT_KEY, key_b: bytes = DEFAULT_KEY) -> VirtualCard:
        """A factory-fresh card: manufacturer block, every trailer in transport configuration."""
        card = cls(uid=bytes(uid))
        block0 = bytearray(16)
        if len(card.uid) == 4:
            block0[0:5] = card.uid + bytes([bcc(card.uid)])
            block0[5], block0[6:8] = card.sak, card.atqa
        else:
            block0[0:7] = card.uid
            block0[7], block0[8:10] = card.sak, card.atqa
        card.memory[0:16] = block0
        for sector in range(16):
            card.set_trailer(sector, key_a=key_a, access=DEFAULT_ACCESS, key_b=key_b)
        return card

    @property
    def atqa(self) -> bytes:
        """ATQA: UID size bits say single (4) or double (7) size."""
        return b"\x44\x00" if len(self.uid) == 7 else b"\x04\x00"

    # -- memory as the world sees it (no keys needed: this is the card maker's view) --

    def block(self, number: int) -> bytes:
        return bytes(self.memory[number * 16 : number * 16 + 16])

    def set_block(self, number: int, data: bytes) -> None:
        if len(data) != 16:
            raise ValueError("a block is 16 bytes")
        self.memory[number * 16 : number * 16 + 16] = data

    def set_trailer(self, sector: int, *, key_a: bytes, access: bytes, key_b: bytes) -> None:
        if len(key_a) != 6 or len(key_b) != 6 or len(access) != 4:
            raise ValueError("keys are 6 bytes, access bits 4")
        self.set_block(sector * 4 + 3, bytes(key_a) + bytes(access) + bytes(key_b))

    def key(self, sector: int, which: str) -> bytes:
        trailer = self.block(sector * 4 + 3)
        return trailer[0:6] if which == "A" else trailer[10:16]

    def _conditions(self, sector: int) -> list[tuple[int, int, int]] | None:
        return decode_access_bits(self.block(sector * 4 + 3)[6:10])

    # -- RF side --

    def power_up(self) -> None:
        """Entering the field (or the field coming back on) resets the card to IDLE."""
        self.state = CardState.IDLE
        self.level = 0
        self.woke_from_halt = False
        self._drop_session()

    def _drop_session(self) -> None:
        self.auth_sector = None
        self.auth_key = None
        self.pending_write = None

    def _fall_back(self) -> None:
        """An unexpected frame in READY/ACTIVE sends a card back to IDLE (or HALT)."""
        self.state = CardState.HALT if self.woke_from_halt else CardState.IDLE
        self.level = 0
        self._drop_session()

    def receive(self, bits: list[int], *, crypto_on: bool) -> Reply | None:
        """Handle one frame from the reader; return the reply or None for silence."""
        nbits = len(bits)
        data = bits_to_bytes(bits)
        if nbits == 7:
            return self._short_frame(data[0])
        if self.state in (CardState.IDLE, CardState.HALT):
            return None
        if self.state is CardState.READY:
            return self._ready_frame(bits, data)
        return self._active_frame(data, nbits, crypto_on=crypto_on)

    def _short_frame(self, command: int) -> Reply | None:
        self.calls += 1
        woke = command == WUPA and self.state is CardState.HALT
        if (command == REQA and self.state is CardState.IDLE) or (
            command == WUPA and self.state in (CardState.IDLE, CardState.HALT)
        ):
            self.state, self.level, self.woke_from_halt = CardState.READY, 0, woke
            self._drop_session()
            return Reply.of(self.atqa)
        if self.state in (CardState.READY, CardState.ACTIVE):
            self._fall_back()
        return None

    def _ready_frame(self, bits: list[int], data: bytes) -> Reply | None:
        levels = cascade_levels(self.uid)
        if len(bits) < 16 or data[0] not in SEL_CODES:
            self._fall_back()
            return None
        if data[0] != SEL_CODES[self.level]:
            return None  # a select for another cascade level: not for us
        nvb = data[1]
        cln = levels[self.level]
        if nvb == 0x70:
            if len(bits) != 72 or crc_a(data[:7]) != data[7:9]:
                self._fall_back()
                return None
            if data[2:7] != cln:
                return None  # another card is being selected; stay READY
            if self.level + 1 < len(levels):
                self.level += 1
                return Reply.of(bytes([0x04]) + crc_a(bytes([0x04])))
            self.state = CardState.ACTIVE
            return Reply.of(bytes([self.sak]) + crc_a(bytes([self.sak])))
        whole, extra = nvb >> 4, nvb & 0x0F
        known = (whole - 2) * 8 + extra
        if not (2 <= whole <= 6 and extra < 8 and 0 <= known < 40 and len(bits) == 16 + known):
            self._fall_back()
            return None
        mine = bytes_to_bits(cln)
        if bits[16:] != mine[:known]:
            return None  # not our branch of the anticollision tree
        return Reply(mine[known:])

    def _active_frame(self, data: bytes, nbits: int, *, crypto_on: bool) -> Reply | None:
        authenticated = self.auth_sector is not None
        if crypto_on != authenticated:
            # Reader and card disagree about encryption: the card hears noise.
            self._fall_back()
            return None
        if nbits % 8 or len(data) < 3 or crc_a(data[:-2]) != data[-2:]:
            self._fall_back()
            return None
        body = data[:-2]
        if self.pending_write is not None:
            block, self.pending_write = self.pending_write, None
            if len(body) != 16:
                return self._nak()
            self.set_block(block, body)
            return Reply.of(bytes([ACK]), 4)
        if body == bytes([HLTA, 0x00]):
            self.state, self.level, self.woke_from_halt = CardState.HALT, 0, False
            self._drop_session()
            return None
        if len(body) == 2 and body[0] in (MF_READ, MF_WRITE):
            block = body[1]
            if block >= 64 or not self._allowed(block, write=body[0] == MF_WRITE):
                return self._nak()
            if body[0] == MF_WRITE:
                self.pending_write = block
                return Reply.of(bytes([ACK]), 4)
            content = self._read_view(block)
            return Reply.of(content + crc_a(content))
        return self._nak()

    def _nak(self) -> Reply:
        self._fall_back()
        return Reply.of(bytes([NAK_INVALID]), 4)

    def _allowed(self, block: int, *, write: bool) -> bool:
        sector = block // 4
        if self.auth_sector != sector or self.auth_key is None:
            return False
        conditions = self._conditions(sector)
        if conditions is None:
            return False
        if self.auth_key == "B" and conditions[3] in _KEY_B_READABLE:
            return False  # key B is readable data here, not a key
        if block % 4 == 3:
            return not write  # trailer writes are not emulated; reads are masked below
        reads, writes = _DATA_RIGHTS[conditions[block % 4]]
        return self.auth_key in (writes if write else reads)

    def _read_view(self, block: int) -> bytes:
        content = self.block(block)
        if block % 4 != 3:
            return content
        conditions = self._conditions(block // 4) or [(1, 1, 1)] * 4
        key_b = content[10:16] if conditions[3] in _KEY_B_READABLE else bytes(6)
        return bytes(6) + content[6:10] + key_b  # key A never reads back

    def authenticate(self, command: int, block: int, key: bytes, uid4: bytes) -> bool:
        """The card's half of MFAuthent: right key for the block's sector, and the UID
        bytes the reader mixed in must be ours (the last four for a 7-byte UID)."""
        if self.state is not CardState.ACTIVE or block >= 64:
            return False
        which = "A" if command == MF_AUTH_KEY_A else "B" if command == MF_AUTH_KEY_B else None
        sector = block // 4
        if which is None or uid4 != self.uid[-4:] or key != self.key(sector, which):
            self._fall_back()
            return False
        self.auth_sector, self.auth_key, self.pending_write = sector, which, None
        return True


def default_uid_for(number: str) -> bytes:
    """A stable 4-byte UID for a card number, so scenarios replay identically."""
    uid = bytearray(hashlib.sha256(number.encode("utf-8")).digest()[:4])
    if uid[0] == CASCADE_TAG:
        uid[0] ^= 0x01
    return bytes(uid)


def library_card(number: str, uid: bytes | None = None) -> VirtualCard:
    """A reader card as the alliance issues it: the card number as ASCII text in blocks
    8, 9 and 10 (sector 2), padded with spaces, readable with key A FF FF FF FF FF FF.

    This is the layout `SimpleMFRC522.write()` of the mfrc522 package produces, so the
    package reads the number back from it too.
    """
    text = number.encode("ascii")
    if len(text) > LIBRARY_CARD_TEXT_LEN:
        raise ValueError(f"a card number fits {LIBRARY_CARD_TEXT_LEN} characters")
    card = VirtualCard.blank(uid if uid is not None else default_uid_for(number))
    padded = text.ljust(LIBRARY_CARD_TEXT_LEN, b" ")
    for i, block in enumerate(LIBRARY_CARD_BLOCKS):
        card.set_block(block, padded[i * 16 : i * 16 + 16])
    return card
