"""Device events: what the drivers post into the kiosk core's single event queue.

This is the narrow interface between hardware and core. Drivers never call the core;
they hand these immutable records to a `post(event)` callable they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CardPresented:
    """A single ISO 14443A card entered the field and was read.

    `uid` is 4 or 7 bytes; `data` is the card's identity block(s) read with the
    configured key (empty when they could not be read). The UID identifies, it never
    authenticates: PINs do that, at the hub.
    """

    uid: bytes
    data: bytes = b""


@dataclass(frozen=True)
class CardRemoved:
    uid: bytes


@dataclass(frozen=True)
class MultipleCards:
    """Two or more cards answered at once: the reader is asked for one card at a time."""

    count: int = 2


@dataclass(frozen=True)
class BarcodeRead:
    """A complete, printable barcode line. `source` is "desk" (borrowing) or "chute"."""

    text: str
    source: str = "desk"


@dataclass(frozen=True)
class BarcodeRejected:
    """A line the scanner produced that is not a barcode (noise, binary, overlong)."""

    reason: str  # "non-printable" | "overlong" | "empty"
    length: int
    source: str = "desk"


@dataclass(frozen=True)
class TagRead:
    """One ISO 15693 book tag the RFID pad (or the chute's reader) read: `uid` the 8-byte
    UID as it came over the air (least significant byte first), `data` its user memory
    from block 0 (b"" when the tag answered the inventory but its blocks could not be
    read), `block_size` the tag's block size in bytes. The driver does not interpret the
    data: the library's data model (contract.tag_data) is the core's business."""

    uid: bytes
    data: bytes
    block_size: int = 4

    @property
    def readable(self) -> bool:
        return bool(self.data)


@dataclass(frozen=True)
class BooksPresented:
    """The tags on the pad settled into a new stack: `tags` is every tag on it now, in
    inventory order (not only the new ones), so one stack is one event however many
    books it holds. `source` is "desk" (the lending pad) or "chute" (a tag read in the
    return chute). Posted again only when the set of UIDs changes."""

    tags: tuple[TagRead, ...]
    source: str = "desk"


@dataclass(frozen=True)
class BooksLifted:
    """The pad (or the chute reader's field) is empty again."""

    source: str = "desk"


@dataclass(frozen=True)
class BookEntered:
    """The chute's entry beam was broken by a book."""

    at: float


@dataclass(frozen=True)
class BookPassed:
    """A book cleared the exit beam: it is inside the machine."""

    at: float
    transit_ms: float


@dataclass(frozen=True)
class BookPulledBack:
    """Entry beam broken and cleared again without the exit beam: the book was taken back."""

    at: float


@dataclass(frozen=True)
class BooksTooClose:
    """A second book entered before the first cleared: one book at a time."""

    at: float


@dataclass(frozen=True)
class ChuteJammed:
    """A beam stayed blocked longer than the configured jam time."""

    beam: str  # "entry" | "exit"
    blocked_s: float


@dataclass(frozen=True)
class ChuteCleared:
    """Both beams are clear again after a jam."""


@dataclass(frozen=True)
class DeviceFault:
    """A device stopped working. `code` is a stable fault code (docs/fault-codes.md), `hint` says
    in plain words what a technician should check."""

    device: str  # "card_reader" | "scanner" | "chute_scanner" | "chute" | outputs
    code: str
    hint: str


@dataclass(frozen=True)
class DeviceRecovered:
    device: str


DeviceEvent = (
    CardPresented
    | CardRemoved
    | MultipleCards
    | BarcodeRead
    | BarcodeRejected
    | BooksPresented
    | BooksLifted
    | BookEntered
    | BookPassed
    | BookPulledBack
    | BooksTooClose
    | ChuteJammed
    | ChuteCleared
    | DeviceFault
    | DeviceRecovered
)

Post = Callable[[DeviceEvent], None]
