"""ISO/IEC 15962 compaction schemes: how a data element's text becomes the fewest bytes.

Codes as in the precursor byte: 0 application-defined, 1 integer, 2 numeric, 3 5-bit,
4 6-bit, 5 7-bit (ISO 646), 6 octet string, 7 UTF-8. Decompaction raises ValueError on
bytes a scheme cannot produce; the caller turns it into a TagDataError with the offset.
"""

from __future__ import annotations

APPLICATION_DEFINED = 0
INTEGER = 1
NUMERIC = 2
FIVE_BIT = 3
SIX_BIT = 4
SEVEN_BIT = 5
OCTET_STRING = 6
UTF8 = 7

_INTEGER_MAX_DIGITS = 19  # ISO/IEC 15962: integer compaction up to 19 digits

# Bits a packed scheme fills its last byte with, and the character those bits would
# read back as when a whole character's width is left over (dropped on decoding, so
# an encoder never picks the scheme for a string ending in that character).
_PACKED: dict[int, tuple[int, str]] = {
    FIVE_BIT: (5, "@"),
    SIX_BIT: (6, " "),
    SEVEN_BIT: (7, "\x00"),
}


def _packed_ok(text: str, scheme: int) -> bool:
    if not text:
        return False
    if scheme == FIVE_BIT:
        allowed = all(0x41 <= ord(c) <= 0x5F for c in text)
    elif scheme == SIX_BIT:
        allowed = all(0x20 <= ord(c) <= 0x5F for c in text)
    else:
        allowed = all(0x01 <= ord(c) <= 0x7F for c in text)
    return allowed and text[-1] != _PACKED[scheme][1]


def best_scheme(text: str) -> int:
    """The scheme ISO/IEC 15962 would pick for `text`: the most compact that fits."""
    if text.isascii() and text.isdigit():
        if text[0] != "0" and len(text) <= _INTEGER_MAX_DIGITS:
            return INTEGER
        return NUMERIC
    for scheme in (FIVE_BIT, SIX_BIT, SEVEN_BIT):
        if _packed_ok(text, scheme):
            return scheme
    return UTF8


def compact(text: str, scheme: int) -> bytes:
    """`text` compacted with `scheme`; ValueError if the scheme cannot carry it."""
    if scheme == INTEGER:
        if not (text.isascii() and text.isdigit()) or (text[0] == "0" and text != "0"):
            raise ValueError(f"integer compaction needs digits without a leading zero: {text!r}")
        value = int(text)
        return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    if scheme == NUMERIC:
        if not text or not (text.isascii() and text.isdigit()):
            raise ValueError(f"numeric compaction needs digits: {text!r}")
        nibbles = [int(c) for c in text] + ([0xF] if len(text) % 2 else [])
        return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))
    if scheme in _PACKED:
        if not _packed_ok(text, scheme):
            raise ValueError(f"{text!r} cannot be carried by compaction scheme {scheme}")
        width, _ = _PACKED[scheme]
        return _pack([ord(c) & ((1 << width) - 1) for c in text], width, scheme == SIX_BIT)
    if scheme == UTF8:
        return text.encode("utf-8")
    if scheme == OCTET_STRING:
        return text.encode("latin-1")
    raise ValueError(f"no text compaction for scheme {scheme}")


def decompact(data: bytes, scheme: int) -> str:
    """The text `data` carries under `scheme`; ValueError if it cannot be its output."""
    if not data:
        raise ValueError("empty data element")
    if scheme == INTEGER:
        return str(int.from_bytes(data, "big"))
    if scheme == NUMERIC:
        digits: list[str] = []
        for position, byte in enumerate(data):
            for nibble in (byte >> 4, byte & 0xF):
                if nibble <= 9:
                    digits.append(str(nibble))
                elif not (nibble == 0xF and position == len(data) - 1 and byte & 0xF == 0xF):
                    raise ValueError(f"nibble {nibble:X} in numeric compaction")
        return "".join(digits)
    if scheme in _PACKED:
        width, filler = _PACKED[scheme]
        return _unpack(data, width, scheme, filler)
    if scheme == UTF8:
        return data.decode("utf-8")
    if scheme in (OCTET_STRING, APPLICATION_DEFINED):
        return data.decode("latin-1")
    raise ValueError(f"unknown compaction scheme {scheme}")


def _pack(codes: list[int], width: int, six_bit: bool) -> bytes:
    bits = 0
    count = 0
    for code in codes:
        bits = (bits << width) | code
        count += width
    spare = -count % 8
    # 6-bit fills with 1 then 0s (reads back as a space), the others with 0s.
    filler = (1 << (spare - 1)) if (six_bit and spare) else 0
    bits = (bits << spare) | filler
    return (bits << 0).to_bytes((count + spare) // 8, "big")


def _unpack(data: bytes, width: int, scheme: int, filler: str) -> str:
    bits = int.from_bytes(data, "big")
    total = len(data) * 8
    chars: list[str] = []
    for index in range(total // width):
        code = (bits >> (total - width * (index + 1))) & ((1 << width) - 1)
        if scheme == FIVE_BIT:
            chars.append(chr(0x40 | code))
        elif scheme == SIX_BIT:
            chars.append(chr(code | (0x40 if code < 0x20 else 0)))
        else:
            chars.append(chr(code))
    # A last character that sits in the filler bits alone is the filler, not data.
    if chars and chars[-1] == filler and (len(chars) - 1) * width > total - 8:
        chars.pop()
    return "".join(chars)
