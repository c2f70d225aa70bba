"""ISO 28560-2 / GB/T 35660.2 tag memory: ISO/IEC 15962 data elements, no directory.

Each element is: precursor byte (bit 7 offset flag, bits 6-4 compaction code, bits 3-0
relative OID, 15 meaning "OID - 15 in the next byte"); if the offset flag is set, one
byte counting the pad bytes after the data; the data length (extensible: bit 7 says
another length byte follows); the compacted data; the pad bytes. A 0x00 precursor
ends the data; a lone 0x80 is a null precursor (padding between elements).
OID 1 (primary item identifier) comes first and is mandatory.
"""

from __future__ import annotations

from contract.tag_data import compaction
from contract.tag_data.record import ExtraElement, TagDataError, TagRecord

# ISO/IEC 15962 DSFID for ISO 28560-2: access method 0 (no directory), data format 6.
DSFID = 0x06

OID_PRIMARY_ITEM_ID = 1
OID_CONTENT_PARAMETER = 2
OID_OWNER_ISIL = 3
OID_SET_INFORMATION = 4
OID_TYPE_OF_USAGE = 5
_INTERPRETED = (OID_PRIMARY_ITEM_ID, OID_OWNER_ISIL, OID_SET_INFORMATION, OID_TYPE_OF_USAGE)
MAX_OID = 15 + 0xFF
_NULL_PRECURSOR = 0x80
_PAD_BYTE = 0x80  # what the ISO/IEC 15962 Annex P example and real tags pad with


def decode(memory: bytes) -> TagRecord:
    """The record in `memory` (the tag's user blocks, read from block 0)."""
    elements = list(_elements(memory))
    if not elements or elements[0][1] != OID_PRIMARY_ITEM_ID:
        raise TagDataError("no primary item identifier (OID 1) first: not an ISO 28560-2 tag", 0)
    seen: set[int] = set()
    fields: dict[int, str] = {}
    type_of_usage: int | None = None
    extra: list[ExtraElement] = []
    for offset, oid, scheme, data in elements:
        if oid in seen and oid in _INTERPRETED:
            raise TagDataError(f"OID {oid} appears twice", offset)
        seen.add(oid)
        if oid == OID_TYPE_OF_USAGE and scheme in (
            compaction.APPLICATION_DEFINED,
            compaction.OCTET_STRING,
            compaction.INTEGER,
        ):
            if len(data) != 1:
                raise TagDataError(f"type of usage is {len(data)} bytes, not 1", offset)
            type_of_usage = data[0]
        elif oid in (OID_PRIMARY_ITEM_ID, OID_SET_INFORMATION) or (
            oid == OID_OWNER_ISIL and scheme != compaction.APPLICATION_DEFINED
        ):
            fields[oid] = _text(data, scheme, oid, offset)
        else:
            # Includes an owner ISIL in 28560-2's own ISIL compaction (code 0), which
            # we keep raw rather than guess at (docs/tag-data.md).
            extra.append(ExtraElement(oid, scheme, data))
    set_part, set_size = _set_information(fields.get(OID_SET_INFORMATION), memory, elements)
    try:
        return TagRecord(
            item_id=fields[OID_PRIMARY_ITEM_ID],
            owner_isil=fields.get(OID_OWNER_ISIL),
            set_part=set_part,
            set_size=set_size,
            type_of_usage=type_of_usage,
            extra=tuple(extra),
        )
    except TagDataError as error:
        raise TagDataError(error.reason, _offset_of(elements, OID_SET_INFORMATION)) from None


def encode(record: TagRecord) -> bytes:
    """The bytes to write from block 0, ending with the 0x00 terminator. Elements go in
    OID order after OID 1; the caller pads to the tag's block size."""
    if not record.item_id:
        raise TagDataError("the primary item identifier is empty")
    out = bytearray(_element_for_text(OID_PRIMARY_ITEM_ID, record.item_id))
    elements: list[tuple[int, bytes]] = [
        (e.oid, _element(e.oid, e.compaction, e.data)) for e in record.extra
    ]
    for extra in record.extra:
        if (
            (
                extra.oid in _INTERPRETED
                and not (extra.oid == OID_OWNER_ISIL and record.owner_isil is None)
            )
            or not 1 <= extra.oid <= MAX_OID
            or not 0 <= extra.compaction <= 7
        ):
            raise TagDataError(
                f"extra element OID {extra.oid} / compaction {extra.compaction} cannot be written"
            )
    if record.owner_isil is not None:
        elements.append((OID_OWNER_ISIL, _element_for_text(OID_OWNER_ISIL, record.owner_isil)))
    if record.set_part is not None and record.set_size is not None:
        width = max(2, len(str(record.set_size)))
        digits = f"{record.set_size:0{width}d}{record.set_part:0{width}d}"
        elements.append(
            (
                OID_SET_INFORMATION,
                _element(
                    OID_SET_INFORMATION,
                    compaction.NUMERIC,
                    compaction.compact(digits, compaction.NUMERIC),
                ),
            )
        )
    if record.type_of_usage is not None:
        if not 0 <= record.type_of_usage <= 0xFF:
            raise TagDataError(f"type of usage {record.type_of_usage} is not one byte")
        elements.append(
            (
                OID_TYPE_OF_USAGE,
                _element(
                    OID_TYPE_OF_USAGE, compaction.APPLICATION_DEFINED, bytes([record.type_of_usage])
                ),
            )
        )
    for _, element in sorted(elements, key=lambda pair: pair[0]):
        out += element
    out.append(0x00)
    return bytes(out)


def _element_for_text(oid: int, text: str) -> bytes:
    scheme = compaction.best_scheme(text)
    return _element(oid, scheme, compaction.compact(text, scheme))


def _element(oid: int, scheme: int, data: bytes) -> bytes:
    head = bytes([scheme << 4 | oid]) if oid < 15 else bytes([scheme << 4 | 15, oid - 15])
    return head + _length(len(data)) + data


def _length(length: int) -> bytes:
    groups = [length & 0x7F]
    length >>= 7
    while length:
        groups.append(0x80 | (length & 0x7F))
        length >>= 7
    return bytes(reversed(groups))


def cut_short(memory: bytes) -> bool:
    """True when `memory` stops inside the record, before its 0x00 terminator: more
    blocks read from the tag would complete it. (A reader that reads a few blocks first,
    for speed, asks this before reading the rest.)"""
    ended: list[bool] = []
    try:
        for _ in _elements(memory, ended):
            pass
    except TagDataError as error:
        return "ends" in error.reason  # cut inside a precursor, a length or the data
    return not ended


def _elements(memory: bytes, ended: list[bool] | None = None):
    """(offset, oid, compaction, data) for each element, stopping at the terminator
    (noted in `ended`, when given)."""
    position = 0
    end = len(memory)
    while position < end:
        start = position
        precursor = memory[position]
        if precursor == 0x00:
            if ended is not None:
                ended.append(True)
            return
        if precursor == _NULL_PRECURSOR:
            position += 1
            continue
        position += 1
        oid = precursor & 0x0F
        scheme = (precursor >> 4) & 0x07
        if oid == 0:
            raise TagDataError(f"precursor 0x{precursor:02X} names relative OID 0", start)
        if oid == 0x0F:
            if position >= end:
                raise TagDataError("tag memory ends inside a precursor", start)
            oid = 15 + memory[position]
            position += 1
        pad = 0
        if precursor & 0x80:
            if position >= end:
                raise TagDataError("tag memory ends before the offset byte", position)
            pad = memory[position]
            position += 1
        length = 0
        for _ in range(3):
            if position >= end:
                raise TagDataError("tag memory ends inside a length", position)
            byte = memory[position]
            position += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise TagDataError("data length longer than 3 bytes", position - 1)
        if length == 0:
            raise TagDataError(f"OID {oid} has no data", start)
        if position + length + pad > end:
            raise TagDataError(
                f"OID {oid} says {length} data bytes and {pad} pad bytes; the tag memory ends first",
                start,
            )
        yield start, oid, scheme, memory[position : position + length]
        position += length + pad


def _text(data: bytes, scheme: int, oid: int, offset: int) -> str:
    try:
        text = compaction.decompact(data, scheme)
    except (ValueError, UnicodeDecodeError) as error:
        raise TagDataError(
            f"OID {oid} does not decode with compaction {scheme}: {error}", offset
        ) from None
    if not text:
        raise TagDataError(f"OID {oid} is empty", offset)
    return text


def _set_information(
    text: str | None, memory: bytes, elements: list
) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    offset = _offset_of(elements, OID_SET_INFORMATION)
    if not (text.isascii() and text.isdigit()) or len(text) % 2:
        raise TagDataError(f"set information {text!r} is not an even number of digits", offset)
    half = len(text) // 2
    return int(text[half:]), int(text[:half])


def _offset_of(elements: list, oid: int) -> int | None:
    return next((offset for offset, element_oid, _, _ in elements if element_oid == oid), None)
