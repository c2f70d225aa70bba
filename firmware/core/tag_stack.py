"""What a stack of RFID book tags says: the items on it, each with every tag that
carries it, and the tags that said nothing usable.

Why items and not tags: the hub knows a book by its item id (the barcode), so two tags
carrying one item (a book tagged twice, or the parts of a set: "disc 2 of 3") are one
item here, one loan, and every one of those tags has its security switched. A set is
lent only with all its parts on the pad (contract.tag_data.sets).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.tag_data.codec import decode_tag
from contract.tag_data.record import DataModel, TagDataError, TagRecord
from contract.tag_data.sets import incomplete_sets
from drivers.events import TagRead
from firmware.view import Text


@dataclass(frozen=True)
class TaggedItem:
    """One item on the stack: `tags` the UIDs carrying it, in inventory order;
    `incomplete` the reader's words when it is a set with parts missing."""

    item_id: str
    tags: tuple[bytes, ...]
    incomplete: Text | None = None


@dataclass(frozen=True)
class StackReading:
    """The items in the inventory order of their first tag, and how many tags could not
    be read or decoded (the reader is told to scan those books' barcodes)."""

    items: tuple[TaggedItem, ...]
    unreadable: int


def read_stack(tags: tuple[TagRead, ...], model: DataModel) -> StackReading:
    """Decode every readable tag with the library's data model and group them by item."""
    records: list[TagRecord] = []
    uids: dict[str, list[bytes]] = {}
    unreadable = 0
    for tag in tags:
        record = _decode(tag, model)
        if record is None:
            unreadable += 1
            continue
        records.append(record)
        uids.setdefault(record.item_id, [])
        if tag.uid not in uids[record.item_id]:
            uids[record.item_id].append(tag.uid)
    missing = {s.item_id: Text(s.reason.zh, s.reason.en) for s in incomplete_sets(records)}
    items = tuple(TaggedItem(item, tuple(found), missing.get(item)) for item, found in uids.items())
    return StackReading(items, unreadable)


def _decode(tag: TagRead, model: DataModel) -> TagRecord | None:
    if not tag.readable:
        return None
    try:
        record = decode_tag(model, tag.data)
    except TagDataError:
        return None
    return record if record.item_id.strip() else None
