"""Reader PINs: how they are stored, and the lockout that protects them.

A 4-8 digit PIN has at most 10^8 values, so no key-derivation cost makes guessing it
slow enough; the lockout does. After the card scheme's `pin_max_attempts` wrong PINs in
a row the card is locked, each lock twice as long as the one before, up to the scheme's
cap (`Scheme.lockout_minutes`). A right PIN resets the count. The count and the lock live
in the reader's row, so every hub worker sees the same ones.

PINs are stored salted and hashed (PBKDF2-SHA256, self-describing so the cost can be
raised later without invalidating stored hashes), never in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from contract.privacy import card_hash
from hub.ledger_sql import Database, parse_time_text, time_text
from hub.schemes import Scheme

# The lockout, not KDF cost, protects a PIN; 5,000 rounds keep pin_check ~1 ms.
PIN_ITERATIONS = 5_000


@dataclass(frozen=True)
class PinResult:
    """The verdict on one PIN. `known` is False for a card the ledger does not hold;
    `locked_until` is set while the card is locked (and on the attempt that locked it)."""

    ok: bool
    attempts_left: int
    locked_until: datetime | None = None
    known: bool = True


def hash_pin(pin: str, iterations: int = PIN_ITERATIONS, salt: bytes | None = None) -> str:
    """Salted PBKDF2-SHA256 as `pbkdf2_sha256$iterations$salt$digest`."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether `pin` matches a `hash_pin` result; False for anything malformed."""
    try:
        algo, iterations, salt_hex, digest_hex = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def check_pin(
    db: Database, scheme: str, number: str, pin: str, now: datetime, policy: Scheme
) -> PinResult:
    """Verify a reader's PIN under the card scheme's `policy` (see module doc), counting
    the attempt. Even the right PIN is refused while the card is locked."""
    attempts = policy.pin_max_attempts
    key = card_hash(scheme, number)
    with db.write():
        row = db.query_one(
            "SELECT pin_hash, pin_failures, locked_until FROM readers WHERE card_hash = ?", (key,)
        )
        if row is None:
            return PinResult(ok=False, attempts_left=0, known=False)
        stored, failures, locked_text = row
        locked_until = parse_time_text(locked_text)
        if locked_until is not None and locked_until > now:
            return PinResult(ok=False, attempts_left=0, locked_until=locked_until)
        if stored is not None and verify_pin(pin, stored):
            db.execute("UPDATE readers SET pin_failures = 0, locked_until = NULL WHERE card_hash = ?", (key,))
            return PinResult(ok=True, attempts_left=attempts)
        failures += 1
        left = attempts - failures % attempts
        new_lock: datetime | None = None
        if failures % attempts == 0:
            new_lock = now + timedelta(minutes=policy.lockout_minutes(failures // attempts))
            left = 0
        db.execute(
            "UPDATE readers SET pin_failures = ?, locked_until = ? WHERE card_hash = ?",
            (failures, time_text(new_lock) if new_lock else None, key),
        )
        return PinResult(ok=False, attempts_left=left, locked_until=new_lock)
