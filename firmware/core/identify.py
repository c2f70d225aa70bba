"""Pure look-ups the core needs: card numbers from card data, card schemes, barcode
kinds, card hashes, masking for logs, offline return routes.

Card schemes, barcode rules and masking are the alliance's shared contract
(`contract.card_schemes`, `contract.barcodes`, `contract.privacy`): the kiosk recognises
every scheme and names cards exactly as the hub does, even while offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from contract.barcodes import Barcode
from contract.barcodes import classify as classify_barcode
from contract.card_schemes import identify_scheme
from contract.privacy import blocklist_hash, card_hash
from contract.privacy import mask_card as mask

__all__ = [
    "BarcodeInfo",
    "blocklist_hash",
    "card_hash",
    "card_number_from_data",
    "classify_barcode",
    "home_library",
    "identify_scheme",
    "local_route",
    "mask",
]

_CARD_NUMBER = re.compile(r"[0-9A-Za-z]{6,24}")
_ITEM_BARCODE = re.compile(r"3[0-9]{13}")


BarcodeInfo = Barcode  # what the core reads of a classified barcode


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
