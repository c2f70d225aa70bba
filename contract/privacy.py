"""What logs, topics and screens may show of a reader: masked names and card numbers,
and the hash by which blocklists and holds name a card. Kiosk and hub mask alike."""

from __future__ import annotations

import hashlib


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
    """sha256 hex of "scheme:number": how holds, blocklists and logs name a card."""
    return hashlib.sha256(f"{scheme}:{number}".encode()).hexdigest()
