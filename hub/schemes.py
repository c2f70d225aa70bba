"""Card schemes: who issued a reader card, what its number looks like, what it may borrow.

The number formats live here in code as well as in `hub/data/schemes.toml` because the
kiosk calls `identify_scheme` offline, without the hub's files; `load_registry` refuses a
schemes.toml whose patterns disagree with `NUMBER_FORMATS`, so the two cannot drift.

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

from drivers.barcodes import luhn_check_digit, luhn_ok

SERVICES: frozenset[str] = frozenset({"borrow", "return", "read"})


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


@dataclass(frozen=True)
class CardLevel:
    """A card level by deposit (bj-joint): a bigger deposit allows more items at once."""

    name_zh: str
    name_en: str
    deposit_yuan: int
    max_items: int


@dataclass(frozen=True)
class Scheme:
    """A card scheme's identity, number format, loan rules and PIN policy (from schemes.toml).

    `max_items`, `loan_days`, `max_renewals` and `renew_days` are what `hub.rules` applies;
    `levels` documents the deposit levels (the default level is `max_items`).
    """

    id: str
    name_zh: str
    name_en: str
    pattern: str
    length: int
    max_items: int
    loan_days: int
    max_renewals: int
    renew_days: int
    pin_required: bool
    pin_length: int
    pin_max_attempts: int = 5
    lockout_base_minutes: int = 15
    lockout_max_minutes: int = 24 * 60
    technician: bool = False
    launched: int | None = None
    issuing_quota: int | None = None  # cards a university may issue to the public per year
    levels: tuple[CardLevel, ...] = ()
    note_zh: str = ""
    note_en: str = ""

    def lockout_minutes(self, lockouts: int) -> int:
        """How long the `lockouts`-th lockout (1-based) lasts: doubling backoff, capped."""
        if lockouts <= 0:
            return 0
        minutes = self.lockout_base_minutes * 2 ** min(lockouts - 1, 20)
        return min(minutes, self.lockout_max_minutes)


def luhn_valid(number: str) -> bool:
    """True when `number` is ASCII digits whose last digit is their Luhn check digit."""
    return isinstance(number, str) and luhn_ok(number)


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() accepts "²" and Arabic-Indic digits; a card number must be plain ASCII.
    return text.isascii() and text.isdigit()


def identify_scheme(number: str) -> str | None:
    """The scheme whose number *shape* `number` has, or None; pure, never raises.

    The check digit is not tested here, so a misread digit can still be reported as
    "this looks like a joint card but the number is wrong" — use `number_is_valid` for that.
    """
    if not isinstance(number, str) or not _is_ascii_digits(number):
        return None
    for fmt in NUMBER_FORMATS.values():
        if len(number) == fmt.length and re.fullmatch(fmt.pattern, number):
            return fmt.scheme
    return None


def number_is_valid(scheme_id: str, number: str) -> bool:
    """True when `number` has `scheme_id`'s format and a correct Luhn check digit."""
    fmt = NUMBER_FORMATS.get(scheme_id) if isinstance(scheme_id, str) else None
    if fmt is None or not isinstance(number, str) or not _is_ascii_digits(number):
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
        if len(issuer) != fmt.issuer_digits or not _is_ascii_digits(issuer):
            raise ValueError(f"{scheme_id} needs a {fmt.issuer_digits}-digit issuer code")
    payload = f"{fmt.prefix}{issuer}{serial:0{fmt.serial_digits}d}"
    return payload + luhn_check_digit(payload)


def make_item_barcode(institution_code: str, serial: int) -> str:
    """A 14-digit item barcode: `3` + institution code + 8-digit serial + Luhn digit."""
    if len(institution_code) != 4 or not _is_ascii_digits(institution_code):
        raise ValueError("institution code must be 4 digits")
    if not isinstance(serial, int) or not 0 <= serial < 10**8:
        raise ValueError("item serial must be 0..99999999")
    payload = f"3{institution_code}{serial:08d}"
    return payload + luhn_check_digit(payload)


def item_barcode_is_valid(barcode: str) -> bool:
    """True for a well-formed 14-digit item barcode with a correct check digit."""
    return (
        isinstance(barcode, str)
        and len(barcode) == ITEM_BARCODE_LENGTH
        and _is_ascii_digits(barcode)
        and barcode[0] == "3"
        and luhn_valid(barcode)
    )


def institution_code_of(barcode: str) -> str | None:
    """The institution code inside a valid item barcode, else None."""
    return barcode[1:5] if item_barcode_is_valid(barcode) else None
