"""Multi-part items on the pad: lend a set only when every part is there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contract.messages import Bilingual
from contract.tag_data.record import TagRecord


@dataclass(frozen=True)
class IncompleteSet:
    """A set some of whose parts are missing; `reason` is shown to the reader."""

    item_id: str
    present: tuple[int, ...]
    set_size: int
    reason: Bilingual


def incomplete_sets(records: Iterable[TagRecord]) -> list[IncompleteSet]:
    """Each set on the pad that lacks a part, in the order first seen. Parts are
    matched by owner and item id; two tags for the same part count once."""
    parts: dict[tuple[str | None, str], set[int]] = {}
    sizes: dict[tuple[str | None, str], int] = {}
    for record in records:
        if record.set_size is None or record.set_part is None or record.set_size < 2:
            continue
        key = (record.owner_isil, record.item_id)
        parts.setdefault(key, set()).add(record.set_part)
        sizes[key] = max(sizes.get(key, 0), record.set_size)
    refused = []
    for key, present in parts.items():
        size = sizes[key]
        if len(present) < size:
            count = len(present)
            refused.append(
                IncompleteSet(
                    item_id=key[1],
                    present=tuple(sorted(present)),
                    set_size=size,
                    reason=Bilingual(
                        zh=f"本套共{size}件，读写区只有{count}件：请把全部{size}件一起放上。",
                        en=f"{count} of {size} parts present: put all {size} parts of this item on the pad together.",
                    ),
                )
            )
    return refused
