"""Transaction ids: time-ordered, unique per kiosk, safe across restarts and clock steps.

Shape: ``{ms:10}{seq:4}-{kiosk}`` where ``ms`` (milliseconds since the epoch) and ``seq``
are fixed-width Crockford base32, whose alphabet sorts in ASCII order, so ids of one kiosk
sort by issue time as plain strings. Base32 rather than decimal keeps long digit runs out
of the id, so the log filter that masks card-number-like digit runs leaves ids readable.

Restart safety: the factory starts from the last id the journal holds and never issues
anything smaller, even when the wall clock was stepped back (NTP, a dead RTC battery).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MS_CHARS = 10
_SEQ_CHARS = 4
_SEQ_MAX = 32**_SEQ_CHARS - 1
_MAX_KIOSK_CHARS = 64 - _MS_CHARS - _SEQ_CHARS - 1


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    if value:
        raise ValueError("value does not fit")
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + _INDEX[char]
    return value


def kiosk_part(kiosk_id: str) -> str:
    """The kiosk's part of an id: the id itself, or a truncation plus a hash when it is
    too long to keep the whole txn id within the protocol's 64 characters."""
    if len(kiosk_id) <= _MAX_KIOSK_CHARS:
        return kiosk_id
    digest = hashlib.sha256(kiosk_id.encode()).hexdigest()[:10]
    return f"{kiosk_id[: _MAX_KIOSK_CHARS - 11]}_{digest}"


def parse_time_part(txn_id: str) -> tuple[int, int] | None:
    """(ms, seq) of an id made by this module, or None for anything else."""
    head = txn_id[: _MS_CHARS + _SEQ_CHARS]
    if len(head) != _MS_CHARS + _SEQ_CHARS or any(c not in _INDEX for c in head):
        return None
    return _decode(head[:_MS_CHARS]), _decode(head[_MS_CHARS:])


class TxnIdFactory:
    """Issues ids for one kiosk; thread-safe. `last_issued` is the journal's last id."""

    def __init__(
        self,
        kiosk_id: str,
        last_issued: str | None,
        *,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._suffix = "-" + kiosk_part(kiosk_id)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        parsed = parse_time_part(last_issued) if last_issued else None
        self._last_ms, self._last_seq = parsed if parsed else (-1, _SEQ_MAX)

    def next_id(self) -> str:
        """A new id greater than every id issued before by this kiosk."""
        with self._lock:
            now = self._clock_ms()
            if now > self._last_ms:
                ms, seq = now, 0
            elif self._last_seq < _SEQ_MAX:
                ms, seq = self._last_ms, self._last_seq + 1
            else:
                ms, seq = self._last_ms + 1, 0
            self._last_ms, self._last_seq = ms, seq
            return _encode(ms, _MS_CHARS) + _encode(seq, _SEQ_CHARS) + self._suffix

    __call__ = next_id
