"""Session tokens: the hub's word that a reader authenticated at a kiosk a moment ago.

Issue 10, item 4: an online loan or renewal must carry a token the hub issued when this
card passed its PIN check (or, for a scheme without PINs, its lookup) at this kiosk.
Without it, anyone able to publish on a kiosk's `txn` topic could lend books to any card
number they know.

A token is stateless, `s1.<issued>.<expires>.<mac>`: Unix seconds, and the first 32
bytes of HMAC-SHA256 over the kiosk id, the card's hash (`contract.privacy.card_hash`,
never the number) and both times, base64url. The key is derived from the ledger's
current PIN pepper with its own label (`session_key`), so every worker sharing the ledger
and `[hub] pin_pepper_file` verifies every other's tokens, across restarts, and a token
is worth nothing as a PIN hash key. Nothing is stored; a token cannot be revoked before
it expires, which is why it is short-lived (`[hub] session_token_ttl_s`).

`problem` judges a token at the txn's `at`; whether a token already expired when the txn
reached the hub is excused by an outage is hub/ledger/txn_checks.py's rule
(`session_token_expired_at_receipt`, with `expires_at`).

What a caller may rely on: `problem` returns one of the reason codes below or None, and
never raises on a hostile token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contract.privacy import card_hash

NO_SESSION_TOKEN = "no_session_token"
SESSION_TOKEN_INVALID = "session_token_invalid"  # malformed, forged, another kiosk or card
SESSION_TOKEN_EXPIRED = "session_token_expired"
# Expired when the txn reached the hub, with no outage to explain it (hub/ledger/txn_checks.py).
SESSION_TOKEN_EXPIRED_AT_RECEIPT = "session_token_expired_at_receipt"

DEFAULT_TTL = timedelta(minutes=15)
_KEY_LABEL = b"alliance session token key v1"
_TOKEN_RE = re.compile(r"^s1\.([0-9]{1,12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
# A txn's `at` may precede the token's issue by this much: clocks a little apart.
_EARLY = timedelta(seconds=60)


def session_key(pepper: bytes) -> bytes:
    """The token key derived from the hub's PIN pepper under its own label (domain
    separation: the pepper itself is never used to sign tokens)."""
    return hmac.new(pepper, _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class SessionTokens:
    """Issues and verifies session tokens under one key; `ttl` is how long one is good for."""

    key: bytes
    ttl: timedelta = DEFAULT_TTL

    def issue(self, kiosk_id: str, scheme: str, number: str, now: datetime) -> str:
        """A token for this card at this kiosk, good from `now` for `ttl`."""
        issued = int(now.timestamp())
        expires = issued + max(1, int(self.ttl.total_seconds()))
        return f"s1.{issued}.{expires}.{self._mac(kiosk_id, scheme, number, issued, expires)}"

    def problem(self, token: str | None, kiosk_id: str, scheme: str, number: str, at: datetime) -> str | None:
        """Why `token` does not let this card borrow or renew at `kiosk_id` at `at` (the
        moment the reader was told, on the hub's clock), or None when it does."""
        if not token:
            return NO_SESSION_TOKEN
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            return SESSION_TOKEN_INVALID
        issued, expires, mac = int(match[1]), int(match[2]), match[3]
        if not hmac.compare_digest(mac, self._mac(kiosk_id, scheme, number, issued, expires)):
            return SESSION_TOKEN_INVALID
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        if moment < datetime.fromtimestamp(issued, UTC) - _EARLY:
            return SESSION_TOKEN_INVALID  # used before the hub issued it
        if moment > datetime.fromtimestamp(expires, UTC):
            return SESSION_TOKEN_EXPIRED
        return None

    @staticmethod
    def expires_at(token: str | None) -> datetime | None:
        """When a well-formed token says it expires (its MAC is `problem`'s to check), or
        None (never raises: a hostile token may name a time past the calendar)."""
        match = _TOKEN_RE.fullmatch(token or "")
        if match is None:
            return None
        try:
            return datetime.fromtimestamp(int(match[2]), UTC)
        except (OverflowError, ValueError, OSError):
            return None

    def _mac(self, kiosk_id: str, scheme: str, number: str, issued: int, expires: int) -> str:
        text = f"s1\0{kiosk_id}\0{card_hash(scheme, number)}\0{issued}\0{expires}"
        digest = hmac.new(self.key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
