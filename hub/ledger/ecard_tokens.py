"""Phone e-card tokens (issue 19 item 4): the hub's word, for at most a minute, that a
reader proved their PIN on the library's app and may log in at one kiosk.

A token's text form is `contract.ecard`'s. Its MAC is the first 16 bytes of
HMAC-SHA256 over `CLAEC1.<payload>`, under a key derived from the ledger's current PIN
pepper with its own label (`ecard_key`), as session tokens are: every worker sharing
the ledger and `[hub] pin_pepper_file` verifies every other's tokens, across restarts,
and the key is worth nothing as a PIN hash key or a session token key. The library's
app, the real issuer, holds the same derived key; `python -m hub ecard` issues one for
demos.

`problem` judges a token on the hub's own clock (never the kiosk's), for the kiosk
whose authenticated topic it came on (never a field the kiosk claims). It does not
spend the token: single use is the ledger's (hub/ledger/ecard_uses.py), after this
check, so a forged token cannot fill the table.

What a caller may rely on: `problem` returns one of the reason codes below or None,
never raises on a hostile token, and checks in this order: form and MAC
(`ecard_invalid`), lifetime (`ecard_invalid` when the token claims more than
`MAX_LIFETIME_S` or was issued in the future), expiry (`ecard_expired`), kiosk
(`ecard_foreign`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from contract.ecard import EcardClaims, EcardText, payload_text, read_ecard

ECARD_INVALID = "ecard_invalid"  # malformed, forged or tampered, or an impossible lifetime
ECARD_EXPIRED = "ecard_expired"
ECARD_FOREIGN = "ecard_foreign"  # made for another kiosk
ECARD_USED = "ecard_used"  # shown before (hub/ledger/ecard_uses.py)

MAX_LIFETIME_S = 60  # issue 19: a token is good for a minute at most
DEFAULT_LIFETIME_S = 60
# The issuer's clock may run a little ahead of the hub's: a token "issued" this far in
# the hub's future is still taken, one further is not.
_ISSUER_SKEW_S = 5
_KEY_LABEL = b"alliance e-card token key v1"


def ecard_key(pepper: bytes) -> bytes:
    """The e-card key derived from the hub's PIN pepper under its own label."""
    return hmac.new(pepper, _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class EcardTokens:
    """Issues and verifies e-card tokens under one key."""

    key: bytes

    def issue(
        self, scheme: str, number: str, kiosk_id: str, now: datetime, lifetime_s: int = DEFAULT_LIFETIME_S
    ) -> str:
        """A token for this card at this kiosk, good from `now` for `lifetime_s` seconds.
        A lifetime over `MAX_LIFETIME_S` is not issued (ValueError): no hub would take it."""
        if not 1 <= lifetime_s <= MAX_LIFETIME_S:
            raise ValueError(f"an e-card token lives 1 to {MAX_LIFETIME_S} s, not {lifetime_s}")
        issued = int(now.timestamp())
        claims = EcardClaims(scheme, number, kiosk_id, issued, issued + lifetime_s, secrets.token_urlsafe(12))
        signed = payload_text(claims)
        token = f"{signed}.{self._mac(signed)}"
        if read_ecard(token) is None:
            raise ValueError("not a card or kiosk an e-card can name")
        return token

    def problem(self, text: str, kiosk_id: str, now: datetime) -> tuple[str | None, EcardText | None]:
        """(why `text` does not log its reader in at `kiosk_id` at `now`, the token taken
        apart when it is genuine); (None, token) when it does, until spent."""
        token = read_ecard(text)
        if token is None or not hmac.compare_digest(token.mac, self._mac(token.signed)):
            return ECARD_INVALID, None
        claims, moment = token.claims, int(now.timestamp())
        if claims.expires - claims.issued > MAX_LIFETIME_S or claims.expires <= claims.issued:
            return ECARD_INVALID, token
        if claims.issued > moment + _ISSUER_SKEW_S:
            return ECARD_INVALID, token
        if moment > claims.expires:
            return ECARD_EXPIRED, token
        if claims.kiosk_id != kiosk_id:
            return ECARD_FOREIGN, token
        return None, token

    def _mac(self, signed: str) -> str:
        digest = hmac.new(self.key, signed.encode("ascii"), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
