"""Barcode classification: pure functions, no I/O.

Why here and not in the core: the scanner only delivers text; deciding whether that
text is a library item, a reader card or a publisher's EAN-13/ISBN is the same
question for the desk scanner, the chute scanner, the hub's catalogue generator and
the tests, so it lives in one small module everybody can import.

Library barcodes are 14-digit Codabar: `3` (item) or `2` (reader), a 4-digit
institution code, an 8-digit serial and a Luhn (mod-10) check digit over the first
13 digits. EAN-13 (and ISBN-13, which is EAN-13 with prefix 978/979) uses mod-10 with
weights 1 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contract.check_digits import EAN13_LENGTH, ean13_ok, is_ascii_digits, luhn_check_digit, luhn_ok

BarcodeKind = Literal["item", "reader", "ean13", "unknown"]
InvalidReason = Literal["bad-check-digit", "wrong-length", "not-digits"]

LIBRARY_LENGTH = 14
_KIND_BY_PREFIX: dict[str, BarcodeKind] = {"3": "item", "2": "reader"}
_CODABAR_START_STOP = "ABCD"


@dataclass(frozen=True)
class Barcode:
    """What a scanned text is. `text` is the normalised code (Codabar start/stop
    characters and surrounding spaces removed); `reason` is set only when not valid."""

    text: str
    kind: BarcodeKind
    valid: bool
    institution: str | None = None
    serial: int | None = None
    reason: InvalidReason | None = None

    @property
    def is_isbn(self) -> bool:
        return self.kind == "ean13" and self.valid and self.text[:3] in ("978", "979")


def _strip_codabar_start_stop(text: str) -> str:
    # Scanners can be set to transmit Codabar's start/stop characters (A-D).
    if (
        len(text) == LIBRARY_LENGTH + 2
        and text[0].upper() in _CODABAR_START_STOP
        and text[-1].upper() in _CODABAR_START_STOP
    ):
        return text[1:-1]
    return text


def classify(text: str) -> Barcode:
    """Say what `text` is. Never raises: any string gets an answer, the invalid ones
    with a reason the reader can be shown ("bad-check-digit", "wrong-length",
    "not-digits")."""
    code = _strip_codabar_start_stop(text.strip())
    digits = is_ascii_digits(code)
    if len(code) == LIBRARY_LENGTH and code[0] in _KIND_BY_PREFIX:
        kind = _KIND_BY_PREFIX[code[0]]
        if not digits:
            return Barcode(code, kind, False, reason="not-digits")
        institution, serial = code[1:5], int(code[5:13])
        if not luhn_ok(code):
            return Barcode(code, kind, False, institution, serial, "bad-check-digit")
        return Barcode(code, kind, True, institution, serial)
    if len(code) == EAN13_LENGTH:
        if not digits:
            return Barcode(code, "ean13", False, reason="not-digits")
        if not ean13_ok(code):
            return Barcode(code, "ean13", False, reason="bad-check-digit")
        return Barcode(code, "ean13", True)
    length_is_the_problem = digits or not code
    return Barcode(
        code, "unknown", False, reason="wrong-length" if length_is_the_problem else "not-digits"
    )


def _make_library_barcode(prefix: str, institution: str, serial: int) -> str:
    if len(institution) != 4 or not is_ascii_digits(institution):
        raise ValueError(f"institution code must be 4 digits, got {institution!r}")
    if not isinstance(serial, int) or not 0 <= serial <= 99_999_999:
        raise ValueError(f"serial must fit in 8 digits, got {serial}")
    body = f"{prefix}{institution}{serial:08d}"
    return body + luhn_check_digit(body)


def make_item_barcode(institution: str, serial: int) -> str:
    """A valid 14-digit item barcode, e.g. for the catalogue generator and tests."""
    return _make_library_barcode("3", institution, serial)


def make_reader_barcode(institution: str, serial: int) -> str:
    """A valid 14-digit reader (patron) barcode."""
    return _make_library_barcode("2", institution, serial)
