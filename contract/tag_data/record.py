"""What a library book tag says, whichever data model wrote it, and the one error its
decoders raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# Chosen per library (docs/tag-data.md): China and Finland write ISO 28560-2 /
# GB/T 35660.2; Denmark, Germany and the Netherlands write ISO 28560-3.
DataModel = Literal["iso28560-2", "iso28560-3"]
DATA_MODELS: tuple[str, ...] = get_args(DataModel)


class TagDataError(ValueError):
    """Tag memory that does not follow the data model. `offset` is the byte where the
    decoder gave up (None for a record that cannot be encoded), so a technician can
    compare it with a hex dump of the tag."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(reason + where)
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True)
class ExtraElement:
    """An ISO 28560-2 data element we do not interpret, kept byte for byte so that a
    tag rewritten by the kiosk loses nothing: its relative OID, the compaction code
    it was written with and the compacted bytes."""

    oid: int
    compaction: int
    data: bytes


@dataclass(frozen=True)
class TagRecord:
    """One book tag. `set_part`/`set_size` are both set for a multi-part item ("disc 2
    of 3") or both None. `type_of_usage` is the ISO 28560-1 code (main code in the
    high nibble for ISO 28560-2; ISO 28560-3 stores the main code alone, 0-15).
    `extra` holds ISO 28560-2 elements we do not interpret; `extension` the optional
    blocks after ISO 28560-3's 34-byte basic block, raw."""

    item_id: str
    owner_isil: str | None = None
    set_part: int | None = None
    set_size: int | None = None
    type_of_usage: int | None = None
    extra: tuple[ExtraElement, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        if (self.set_part is None) != (self.set_size is None):
            raise TagDataError("set part and set size go together")
        if (
            self.set_part is not None
            and self.set_size is not None
            and not 1 <= self.set_part <= self.set_size
        ):
            raise TagDataError(f"set part {self.set_part} of {self.set_size} is impossible")


def parse_data_model(name: str) -> DataModel:
    """The data model a library's config names, or a TagDataError listing the choices."""
    if name not in DATA_MODELS:
        raise TagDataError(
            f"unknown tag data model {name!r}; choose one of {', '.join(DATA_MODELS)}"
        )
    return name  # type: ignore[return-value]
