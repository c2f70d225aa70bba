"""Pure look-ups the core needs: card numbers from card data, card schemes, barcode
kinds, card hashes, masking for logs, offline return routes.

The real rules live in hub.schemes and drivers.barcodes; the defaults here call them
lazily and fall back to a local minimum so the core never fails to import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Protocol

_CARD_NUMBER = re.compile(r"[0-9A-Za-z]{6,24}")
_ITEM_BARCODE = re.compile(r"3[0-9]{13}")


class BarcodeInfo(Protocol):
    """What drivers.barcodes.classify returns (only the fields the core reads)."""

    text: str
    kind: str  # "item" | "reader" | "ean13" | "unknown"
    valid: bool
    reason: str | None


def card_number_from_data(data: bytes) -> str | None:
    """The card number stored as ASCII in the card's identity blocks, or None.

    Padding (spaces, NULs) is stripped; anything else that is not 6-24 ASCII letters or
    digits means the card could not be read as a library card.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.strip(" \x00\r\n\t")
    return text if _CARD_NUMBER.fullmatch(text) else None


def identify_scheme(number: str) -> str | None:
    """hub.schemes.identify_scheme, or a shape-only fallback when it cannot be imported."""
    try:
        from hub.schemes import identify_scheme as real
    except ImportError:
        return _fallback_scheme(number)
    return real(number)


_FALLBACK_SHAPES = (
    ("nlc", re.compile(r"20001[0-9]{9}")),
    ("bj-joint", re.compile(r"01[0-9]{11}")),
    ("univ-public", re.compile(r"9[0-9]{11}")),
    ("staff", re.compile(r"88[0-9]{9}")),
)


def _fallback_scheme(number: str) -> str | None:
    for scheme, shape in _FALLBACK_SHAPES:
        if shape.fullmatch(number):
            return scheme
    return None


def classify_barcode(text: str) -> BarcodeInfo:
    """drivers.barcodes.classify (Luhn-checked library codes, EAN-13)."""
    from drivers.barcodes import classify

    return classify(text)


def card_hash(scheme: str, number: str) -> str:
    """sha256 hex of "scheme:number": how the hub's blocklist names cards (hub.rules)."""
    return hashlib.sha256(f"{scheme}:{number}".encode()).hexdigest()


def mask(number: str) -> str:
    """A card number safe for logs: first 4 and last 3 characters, stars between."""
    if len(number) <= 7:
        return "*" * max(len(number) - 3, 0) + number[-3:]
    return number[:4] + "*" * (len(number) - 7) + number[-3:]


def home_library(barcode: str, institution_members: Mapping[str, str]) -> str | None:
    """The member id owning an item barcode (`3` + institution + serial + check)."""
    if not _ITEM_BARCODE.fullmatch(barcode):
        return None
    return institution_members.get(barcode[1:5])


def local_route(
    barcode: str, library_id: str, institution_members: Mapping[str, str]
) -> tuple[str, str | None]:
    """Offline routing: our own books are shelved, others go to their home library,
    books whose home we cannot tell go to the hold bin for staff."""
    home = home_library(barcode, institution_members)
    if home is None:
        return "hold", None
    if home == library_id:
        return "shelve", library_id
    return "transfer", home
