"""CRC-16 as the Danish data model (ISO 28560-3) computes it."""

from __future__ import annotations

# CRC-16/IBM-3740, also called CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF,
# not reflected, no final XOR. Its catalogue check value for b"123456789" is 0x29B1.
# The Danish data model names "CRC-16 CCITT" without a variant; libdanrfid
# (github.com/GallusMax/libdanrfid, CRC.java) and its tag vectors show this one.
_POLY = 0x1021
_INIT = 0xFFFF


def crc16_ccitt_false(data: bytes) -> int:
    """The 16-bit CRC of `data` (bitwise; 32 bytes per tag read, speed is no concern)."""
    crc = _INIT
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc
