"""The phone e-card's text form (issue 19 item 4): what the desk scanner reads off a
reader's phone, and how kiosk and hub both recognise it.

A barcode scanner reads a QR code as one line of text, so the e-card is text:

    CLAEC1.<payload>.<mac>

`payload` is base64url (no padding) of `scheme|number|kiosk_id|issued|expires|token_id`
(Unix seconds; `token_id` 12-32 base64url characters, new for every token), and `mac`
the hub's 128-bit HMAC over the prefix and payload, base64url (22 characters). Only
the hub holds the key (hub/ledger/ecard_tokens.py); this module never checks a MAC.
The payload is readable by whoever sees the QR code, as a plastic card's number is:
the kiosk reads the card from it to start the session, and the hub's answer says
whether the token is good.

What a caller may rely on: `looks_like_ecard` and `read_ecard` never raise, whatever
the text; `read_ecard` returns None for anything that is not a well-formed token (it
says nothing about the signature, the expiry or the kiosk: that is the hub's).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

PREFIX = "CLAEC1."
# Bounded so a token fits one scanner line (drivers' `max_length`) and one request field.
MAX_TEXT = 200
TOKEN_PATTERN = r"^CLAEC1\.[A-Za-z0-9_-]{16,160}\.[A-Za-z0-9_-]{22}$"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_CARD_RE = re.compile(r"^[0-9A-Za-z]{6,24}$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOKEN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{12,32}$")
_TIME_RE = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class EcardClaims:
    """What a token says, unverified: whose card, for which kiosk, valid when, which token."""

    scheme: str
    number: str
    kiosk_id: str
    issued: int
    expires: int
    token_id: str


@dataclass(frozen=True)
class EcardText:
    """A well-formed token taken apart: its claims, the signed part and its MAC."""

    claims: EcardClaims
    signed: str  # `CLAEC1.<payload>`: what the MAC covers
    mac: str


def looks_like_ecard(text: str) -> bool:
    """True when `text` is meant as an e-card (its prefix): the kiosk then treats the
    scan as a login, never as a book, even when the rest is broken."""
    return text.strip().startswith(PREFIX)


def payload_text(claims: EcardClaims) -> str:
    """`CLAEC1.<payload>`: the part of a token the hub's MAC covers."""
    fields = (claims.scheme, claims.number, claims.kiosk_id, str(claims.issued), str(claims.expires), claims.token_id)
    raw = "|".join(fields).encode("ascii")
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_ecard(text: str) -> EcardText | None:
    """The token in `text` taken apart, or None when it is not a well-formed token."""
    text = text.strip()
    if len(text) > MAX_TEXT or _TOKEN_RE.fullmatch(text) is None:
        return None
    signed, mac = text.rsplit(".", 1)
    body = signed[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    parts = raw.split("|")
    if len(parts) != 6:
        return None
    scheme, number, kiosk_id, issued, expires, token_id = parts
    if not (
        _ID_RE.fullmatch(scheme)
        and _CARD_RE.fullmatch(number)
        and _ID_RE.fullmatch(kiosk_id)
        and _TIME_RE.fullmatch(issued)
        and _TIME_RE.fullmatch(expires)
        and _TOKEN_ID_RE.fullmatch(token_id)
    ):
        return None
    claims = EcardClaims(scheme, number, kiosk_id, int(issued), int(expires), token_id)
    if payload_text(claims) != signed:  # one spelling only: no second encoding of the same claims
        return None
    return EcardText(claims, signed, mac)
