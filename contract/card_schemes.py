"""Card schemes: who issued a reader card and what its number looks like.

The number formats live here in code as well as in `contract/data/schemes.toml` because the
kiosk calls `identify_scheme` offline; the hub's `load_registry` refuses a schemes.toml
whose patterns disagree with `NUMBER_FORMATS`, so the two cannot drift.

Formats (all ASCII digits, the last digit a Luhn mod-10 check over the digits before it):

| scheme        | length | shape                                                   |
|---------------|--------|---------------------------------------------------------|
| `nlc`         | 14     | `2` + `0001` (NLC institution code) + 8 serial + check   |
| `bj-joint`    | 13     | `01` + 2-digit issuing district + 8 serial + check       |
| `univ-public` | 12     | `9` + 3-digit university code + 7 serial + check         |
| `staff`       | 11     | `88` + 8 serial + check                                  |

The lengths differ, so a number can match at most one scheme. Item barcodes (14 digits,
`3` + 4-digit institution code + 8 serial + check) start with `3` and never match a card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from contract.barcodes import make_item_barcode
from contract.check_digits import is_ascii_digits, luhn_check_digit, luhn_ok

__all__ = ["NUMBER_FORMATS", "identify_scheme", "make_card_number", "make_item_barcode", "number_is_valid"]


@dataclass(frozen=True)
class NumberFormat:
    """How a scheme's card numbers look; `pattern` is matched in full (check digit included)."""

    scheme: str
    pattern: str
    length: int
    prefix: str
    serial_digits: int
    issuer_digits: int = 0  # issuing district (bj-joint) or university code (univ-public)


NUMBER_FORMATS: Mapping[str, NumberFormat] = MappingProxyType(
    {
        "nlc": NumberFormat("nlc", r"20001[0-9]{8}[0-9]", 14, "20001", 8),
        "bj-joint": NumberFormat("bj-joint", r"01[0-9]{2}[0-9]{8}[0-9]", 13, "01", 8, 2),
        "univ-public": NumberFormat("univ-public", r"9[0-9]{3}[0-9]{7}[0-9]", 12, "9", 7, 3),
        "staff": NumberFormat("staff", r"88[0-9]{8}[0-9]", 11, "88", 8),
    }
)

ITEM_BARCODE_PATTERN = r"3[0-9]{4}[0-9]{8}[0-9]"
ITEM_BARCODE_LENGTH = 14


def luhn_valid(number: str) -> bool:
    """True when `number` is ASCII digits whose last digit is their Luhn check digit."""
    return isinstance(number, str) and luhn_ok(number)


def identify_scheme(number: str) -> str | None:
    """The scheme whose number *shape* `number` has, or None; pure, never raises.

    The check digit is not tested here, so a misread digit can still be reported as
    "this looks like a joint card but the number is wrong" — use `number_is_valid` for that.
    """
    if not isinstance(number, str) or not is_ascii_digits(number):
        return None
    for fmt in NUMBER_FORMATS.values():
        if len(number) == fmt.length and re.fullmatch(fmt.pattern, number):
            return fmt.scheme
    return None


def number_is_valid(scheme_id: str, number: str) -> bool:
    """True when `number` has `scheme_id`'s format and a correct Luhn check digit."""
    fmt = NUMBER_FORMATS.get(scheme_id) if isinstance(scheme_id, str) else None
    if fmt is None or not isinstance(number, str) or not is_ascii_digits(number):
        return False
    return (
        len(number) == fmt.length
        and re.fullmatch(fmt.pattern, number) is not None
        and luhn_valid(number)
    )


def make_card_number(
    scheme_id: str, serial: int, district: str = "10", university: str = "001"
) -> str:
    """A valid card number of `scheme_id` with this serial (demo data, tests, card issuing).

    `district` is the 2-digit issuing district of a bj-joint card ("10" = Capital Library);
    `university` the 3-digit university code of a univ-public card; other schemes ignore both.
    """
    fmt = NUMBER_FORMATS.get(scheme_id)
    if fmt is None:
        raise ValueError(f"unknown card scheme {scheme_id!r}")
    if not isinstance(serial, int) or serial < 0 or serial >= 10**fmt.serial_digits:
        raise ValueError(f"serial must be 0..{10**fmt.serial_digits - 1} for {scheme_id}")
    issuer = ""
    if fmt.issuer_digits:
        issuer = district if scheme_id == "bj-joint" else university
        if len(issuer) != fmt.issuer_digits or not is_ascii_digits(issuer):
            raise ValueError(f"{scheme_id} needs a {fmt.issuer_digits}-digit issuer code")
    payload = f"{fmt.prefix}{issuer}{serial:0{fmt.serial_digits}d}"
    return payload + luhn_check_digit(payload)


def item_barcode_is_valid(barcode: str) -> bool:
    """True for a well-formed 14-digit item barcode with a correct check digit."""
    return (
        isinstance(barcode, str)
        and len(barcode) == ITEM_BARCODE_LENGTH
        and is_ascii_digits(barcode)
        and barcode[0] == "3"
        and luhn_valid(barcode)
    )


def institution_code_of(barcode: str) -> str | None:
    """The institution code inside a valid item barcode, else None."""
    return barcode[1:5] if item_barcode_is_valid(barcode) else None
