"""Check digits: Luhn (mod 10) for library barcodes and card numbers, EAN-13 and
ISBN-13 for publishers' codes. Pure functions; the kiosk and the hub share them."""

from __future__ import annotations

EAN13_LENGTH = 13


def is_ascii_digits(text: str) -> bool:
    """Plain ASCII digits only."""
    # str.isdigit() alone accepts "²" and other Unicode digits that int() rejects.
    return text.isascii() and text.isdigit()


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass the Luhn test."""
    if not is_ascii_digits(body):
        raise ValueError(f"Luhn body must be digits, got {body!r}")
    total = 0
    # The check digit will sit at the right, so the body's rightmost digit is doubled.
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_ok(digits: str) -> bool:
    """True when the last digit is the Luhn check digit of the others."""
    if len(digits) < 2 or not is_ascii_digits(digits):
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]


def ean13_check_digit(body12: str) -> str:
    """The 13th digit of an EAN-13 (weights 1,3,1,3,... from the left)."""
    if len(body12) != EAN13_LENGTH - 1 or not is_ascii_digits(body12):
        raise ValueError(f"EAN-13 body must be 12 digits, got {body12!r}")
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return str((10 - total % 10) % 10)


def ean13_ok(code: str) -> bool:
    """True for 13 digits whose last one is the EAN-13 check digit."""
    if len(code) != EAN13_LENGTH or not is_ascii_digits(code):
        return False
    return ean13_check_digit(code[:12]) == code[12]


def isbn13_ok(code: str) -> bool:
    """An EAN-13 in the book ("Bookland") range 978/979."""
    return ean13_ok(code) and code[:3] in ("978", "979")
