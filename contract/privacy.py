"""What logs, topics and screens may show of a reader: masked names and card numbers,
and the hashes by which the ledger and the blocklist name a card. Kiosk and hub mask alike."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def mask_name(name: str) -> str:
    """A name with most characters hidden: "王小明" → "王*明", "李雷" → "李*",
    "Zhang Wei" → "Z*** W**". Enough for the reader to recognise, not for a bystander."""
    words = name.split()
    if not words:
        return ""
    if len(words) > 1 or name.strip().isascii():
        # at most three stars a word: the stars should not give the length away either
        return " ".join(w[0] + "*" * min(len(w) - 1, 3) for w in words)
    word = words[0]
    if len(word) == 1:
        return "*"
    if len(word) == 2:
        return word[0] + "*"
    return word[0] + "*" * (len(word) - 2) + word[-1]


def mask_card(number: str) -> str:
    """A card number with only its first 4 and last 3 characters shown
    ("0110000012341" → "0110******341"); short numbers show at most their last 3."""
    n = len(number)
    if n > 7:
        return number[:4] + "*" * (n - 7) + number[-3:]
    if n > 3:
        return "*" * (n - 3) + number[-3:]
    return "*" * n


def card_hash(scheme: str, number: str) -> str:
    """sha256 hex of "scheme:number": how the hub's ledger keys readers, loans and holds.
    Never sent to a kiosk: unsalted, every number of a scheme hashes in minutes (the
    blocklist uses `blocklist_hash`)."""
    return hashlib.sha256(f"{scheme}:{number}".encode()).hexdigest()


def new_blocklist_salt() -> str:
    """A fresh random key for one blocklist answer: 16 bytes as 32 hex digits."""
    return secrets.token_hex(16)


def blocklist_hash(salt: str, scheme: str, number: str) -> str:
    """HMAC-SHA256(salt, "scheme:number") in hex: how one blocklist answer names a card.

    The hub draws a new `salt` for every answer and sends it along, and the kiosk hashes
    a tapped card with it. Hashes from different answers cannot be matched to each other
    or to a table computed in advance; whoever holds one answer can still try every card
    number of a scheme against it, so the answer itself must travel only to its kiosk
    (TLS and the broker ACL, docs/security.md)."""
    return hmac.new(bytes.fromhex(salt), f"{scheme}:{number}".encode(), hashlib.sha256).hexdigest()
