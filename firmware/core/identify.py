"""Pure look-ups the core needs: card numbers from card data, card schemes, barcode
kinds, card hashes, masking for logs, offline return routes.

The real rules live in hub.schemes, hub.rules and drivers.barcodes (pure modules
that ship with the firmware); they are imported where used, so importing the core
stays cheap.
"""

from __future__ import annotations

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
    """hub.schemes.identify_scheme: the alliance's card-number formats ship with the
    firmware, so a kiosk recognises every scheme even while offline."""
    from hub.schemes import identify_scheme as identify

    return identify(number)


def classify_barcode(text: str) -> BarcodeInfo:
    """drivers.barcodes.classify (Luhn-checked library codes, EAN-13)."""
    from drivers.barcodes import classify

    return classify(text)


def card_hash(scheme: str, number: str) -> str:
    """hub.rules.card_hash: how the hub's blocklist names cards."""
    from hub.rules import card_hash as hash_card

    return hash_card(scheme, number)


def mask(number: str) -> str:
    """hub.rules.mask_card: first 4 and last 3 characters, for logs."""
    from hub.rules import mask_card

    return mask_card(number)


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
