"""Library book tags for the simulator: an emulated ISO 15693 tag (hal_sim.iso15693_tag)
written the way a library's staff station writes them, in the library's data model
(contract.tag_data), with its security as the library's convention sets it.

UIDs are NXP ICODE SLIX ones (E0 04 01 + five bytes) derived from the item id and the
set part, so the same book gets the same tag in every run and two parts of a set never
share one. Fault flags pass through to the tag: `unreadable` (its answers never arrive
clean), `write_fails` (it refuses writes, security included).
"""

from __future__ import annotations

import hashlib

from contract.tag_data.codec import encode_tag
from contract.tag_data.iso28560_2 import DSFID as DSFID_28560_2
from contract.tag_data.record import DataModel, TagRecord
from hal_sim.iso15693_tag import BLOCK_COUNT, BLOCK_SIZE, Iso15693Tag

ICODE_SLIX_UID_PREFIX = bytes([0xE0, 0x04, 0x01])


def tag_uid(item_id: str, set_part: int | None = None) -> bytes:
    """The UID (as printed, 0xE0 first) the simulator gives the tag of `item_id`."""
    seed = f"{item_id}:{set_part or 0}".encode()
    return ICODE_SLIX_UID_PREFIX + hashlib.sha256(seed).digest()[:5]


def library_tag(
    item_id: str,
    *,
    model: DataModel = "iso28560-2",
    set_part: int | None = None,
    set_size: int | None = None,
    afi: int = 0x07,
    eas: bool = True,
    unreadable: bool = False,
    write_fails: bool = False,
    uid: bytes | None = None,
) -> Iso15693Tag:
    """A tag carrying `item_id` (part `set_part` of `set_size`), its user memory written
    from block 0 in `model`, the rest zero; AFI and EAS as given (in stock by default:
    0x07 and EAS set)."""
    record = TagRecord(item_id=item_id, set_part=set_part, set_size=set_size)
    memory = encode_tag(model, record)
    capacity = BLOCK_SIZE * BLOCK_COUNT
    if len(memory) > capacity:
        raise ValueError(f"{item_id}'s record is {len(memory)} bytes; the tag holds {capacity}")
    memory = memory.ljust(capacity, b"\x00")
    blocks = [memory[i : i + BLOCK_SIZE] for i in range(0, capacity, BLOCK_SIZE)]
    return Iso15693Tag(
        uid=uid or tag_uid(item_id, set_part),
        blocks=blocks,
        afi=afi,
        dsfid=DSFID_28560_2 if model == "iso28560-2" else 0x00,
        eas=eas,
        unreadable=unreadable,
        write_fails=write_fails,
    )
