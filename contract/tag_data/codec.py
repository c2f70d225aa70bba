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
