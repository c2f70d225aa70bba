"""Decode and encode a tag with the data model a library chose."""

from __future__ import annotations

from contract.tag_data import iso28560_2, iso28560_3
from contract.tag_data.record import DataModel, TagRecord


def decode_tag(model: DataModel, memory: bytes) -> TagRecord:
    """The record in `memory`; raises only TagDataError on bad memory."""
    return iso28560_2.decode(memory) if model == "iso28560-2" else iso28560_3.decode(memory)


def encode_tag(model: DataModel, record: TagRecord) -> bytes:
    """The bytes to write from block 0."""
    return iso28560_2.encode(record) if model == "iso28560-2" else iso28560_3.encode(record)


def record_cut_short(model: DataModel, memory: bytes) -> bool:
    """True when `memory`, read from block 0, ends inside the record, so more blocks
    are needed to decode it (ISO 28560-3: its 34-byte basic block; ISO 28560-2: up to
    the terminator)."""
    if model == "iso28560-2":
        return iso28560_2.cut_short(memory)
    return len(memory) < iso28560_3.BASIC_BLOCK
