"""ISO 28560-3 (the Danish data model) basic block: 34 fixed bytes.

0: version (high nibble) and type of usage (low nibble); 1: parts in set; 2: part
number; 3-18: primary item id, NUL padded; 19-20: CRC-16 (crc16.py) of the other 32
bytes, low byte first; 21-22: owner country (ISO 3166 alpha-2); 23-33: owner library
ISIL suffix, NUL padded. Bytes after the basic block are optional blocks, kept raw.
A tag shorter than 34 bytes (8 blocks of 4) reads as if padded with NULs.
"""

from __future__ import annotations

from contract.tag_data.crc16 import crc16_ccitt_false
from contract.tag_data.record import TagDataError, TagRecord

BASIC_BLOCK = 34
VERSION = 1
_ITEM = slice(3, 19)
_CRC = slice(19, 21)
_COUNTRY = slice(21, 23)
_LIBRARY = slice(23, 34)


def crc_of(block: bytes) -> int:
    """The CRC over a 34-byte basic block, its own CRC bytes left out."""
    return crc16_ccitt_false(block[:19] + block[21:BASIC_BLOCK])


def decode(memory: bytes) -> TagRecord:
    """The record in `memory` (read from block 0)."""
    if len(memory) < 21:
        raise TagDataError(f"{len(memory)} bytes is too short for an ISO 28560-3 tag", len(memory))
    block = memory[:BASIC_BLOCK].ljust(BASIC_BLOCK, b"\x00")
    if not any(block):
        raise TagDataError("the tag is blank", 0)
    version = block[0] >> 4
    if version not in (1, 2):
        raise TagDataError(f"data model version {version} is not one we read", 0)
    stored = block[19] | (block[20] << 8)
    if stored != crc_of(block):
        raise TagDataError(
            f"CRC 0x{stored:04X} does not match the data (0x{crc_of(block):04X})", 19
        )
    size, part = block[1], block[2]
    if size == 0 or not 1 <= part <= size:
        raise TagDataError(f"part {part} of {size} is impossible", 1)
    item_id = _field(block, _ITEM, "primary item id")
    if not item_id:
        raise TagDataError("the primary item id is empty", 3)
    country = _field(block, _COUNTRY, "country")
    library = _field(block, _LIBRARY, "library")
    owner = f"{country}-{library}" if country else (library or None)
    sets = (part, size) if size > 1 else (None, None)
    return TagRecord(
        item_id=item_id,
        owner_isil=owner,
        set_part=sets[0],
        set_size=sets[1],
        type_of_usage=block[0] & 0x0F,
        extension=bytes(memory[BASIC_BLOCK:]),
    )


def encode(record: TagRecord) -> bytes:
    """The 34-byte basic block (plus the record's optional blocks) with its CRC."""
    tou = 1 if record.type_of_usage is None else record.type_of_usage
    if not 0 <= tou <= 0x0F:
        raise TagDataError(f"type of usage {tou} does not fit ISO 28560-3's nibble")
    size, part = (record.set_size, record.set_part) if record.set_size else (1, 1)
    if size > 0xFF:
        raise TagDataError(f"a set of {size} parts does not fit one byte")
    block = bytearray(BASIC_BLOCK)
    block[0] = (VERSION << 4) | tou
    block[1], block[2] = size, part
    block[_ITEM] = _pad(record.item_id, 16, "primary item id")
    country, library = "", ""
    if record.owner_isil:
        country, dash, library = record.owner_isil.partition("-")
        if not dash or len(country) != 2:
            country, library = "", record.owner_isil
    block[_COUNTRY] = _pad(country, 2, "country")
    block[_LIBRARY] = _pad(library, 11, "library")
    crc = crc_of(bytes(block))
    block[19], block[20] = crc & 0xFF, crc >> 8
    return bytes(block) + record.extension


def _field(block: bytes, where: slice, name: str) -> str:
    raw = block[where].split(b"\x00", 1)[0]
    if any(not 0x20 <= byte <= 0x7E for byte in raw):
        raise TagDataError(f"the {name} holds a byte that is not printable ASCII", where.start)
    return raw.decode("ascii")


def _pad(text: str, width: int, name: str) -> bytes:
    if len(text) > width or any(not 0x20 <= ord(c) <= 0x7E for c in text):
        raise TagDataError(f"the {name} {text!r} is not up to {width} printable ASCII characters")
    return text.encode("ascii").ljust(width, b"\x00")
