"""Reader PINs: how they are stored, and the lockout that protects them.

A 4-8 digit PIN has at most 10^8 values, so no key-derivation cost makes guessing it
online slow enough; the lockout does. Every wrong PIN counts, whichever kiosk sent it:
after the card scheme's `pin_max_attempts` wrong PINs the card is locked, for the
scheme's own lockout first, then each step of its ladder (15 minutes, 1 hour, 24 hours),
then until staff lift it (`Scheme.lockout_minutes`, `python -m hub pin unlock`). A
right PIN after a lock ended resets the count and the ladder. The count, the lock and
the kiosk whose wrong PIN made it (`locked_by`, so a kiosk locking several readers out
is seen: hub/worker/pin_guard.py) live in the reader's row, so every hub worker sees the same.

Offline, against a stolen copy of the ledger, the hash is what is left. A stored PIN is
`scrypt$<pepper id>$<n>$<r>$<p>$<salt>$<digest>`: scrypt (stdlib `hashlib.scrypt`,
memory-hard, 16 MiB and about 70 ms per check at `PIN_COST`) over
HMAC-SHA256(pepper, PIN), salted per reader. The pepper is a server-side key kept apart
from the hashes (`PinPeppers`, a 0600 `[hub] pin_pepper_file` that `python -m hub pki
init` writes): without it, even the cheapest stored hash cannot be tested against a
single PIN, so a copy of the ledger alone yields no PIN. A hub refuses to start with
the pepper inside the ledger (`HubConfig.refuse_pepper_in_ledger`).

What a caller may rely on:
- `verify_pin` still accepts the PBKDF2 hashes of earlier releases
  (`pbkdf2_sha256$...`), and `check_pin` replaces any hash that is not at the current
  pepper and `PIN_COST` with a new one on the next right PIN (never on a wrong one).
- A hash names its pepper by id, so moving from the ledger's pepper to a pepper file
  keeps every stored PIN working; each is re-hashed under the file's pepper at its
  next right PIN.
- Demo seeding hashes with `DEMO_SEED_COST`, a much lower cost labelled as such in
  each hash's parameters, so demo and benchmark seeding stays as fast as before;
  those hashes are upgraded like any other on their reader's next right PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract.privacy import card_hash
from hub.ledger.ledger_sql import Database, parse_time_text, time_text
from hub.pki.pin_pepper import read_pepper_file
from hub.rules.schemes import Scheme


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's work factors: memory is 128 * n * r bytes."""

    n: int
    r: int
    p: int


# 16 MiB, ~70 ms on the hub: affordable per pin_check, costly per guess offline.
PIN_COST = ScryptCost(n=2**14, r=8, p=1)
# DEMO ONLY: ~1 ms, for the generated readers of `python -m hub demo` and the benchmarks.
DEMO_SEED_COST = ScryptCost(n=2**8, r=8, p=1)
_MAX_N = 2**20  # refuse stored parameters that would make one check eat the hub's memory
_PEPPER_META_KEY = "pin_pepper"


@dataclass(frozen=True)
class PinPeppers:
    """The pepper new hashes use (`current`) and every pepper a stored hash may name.

    Why a pepper in the ledger's own `meta` table when no `[hub] pin_pepper_file` is set:
    tools that open a ledger without the hub's settings (tests seeding a ledger, an
    older setup) still hash and verify. It defeats a leak of the `readers` table alone,
    not a copy of the whole database; only a pepper file kept outside the database
    (0600, `[hub] pin_pepper_file`) does, which is why a hub worker refuses to start
    without one (unless `[hub] pepper_in_ledger_ok`, for old test setups). A pepper an
    older setup left in the ledger stays known, so hashes made under it keep verifying.
    """

    current_id: str
    keys: Mapping[str, bytes]

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]


def pepper_id(key: bytes) -> str:
    """A short public name for a pepper, stored in each hash so the right key is used."""
    return hashlib.sha256(b"alliance pin pepper id\0" + key).hexdigest()[:12]


def ledger_pepper(db: Database) -> bytes:
    """The pepper kept in the ledger's `meta` table, generated on first use. Two workers
    racing both insert-if-absent and then read back the one that won."""
    with db.write():
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (_PEPPER_META_KEY, os.urandom(32).hex()),
        )
        value = db.scalar("SELECT value FROM meta WHERE key = ?", (_PEPPER_META_KEY,))
    return bytes.fromhex(str(value))


def load_peppers(db: Database, pepper_file: Path | None = None) -> PinPeppers:
    """The peppers for this ledger. With a pepper file, the file's is current and the
    ledger gets none: only a pepper an older setup already left in the ledger is kept,
    so that the hashes made under it still verify (until each is re-hashed at its
    reader's next right PIN). Without one, the ledger's own, generated at first use."""
    if pepper_file is None:
        stored = ledger_pepper(db)
        return PinPeppers(pepper_id(stored), {pepper_id(stored): stored})
    key = read_pepper_file(pepper_file)
    keys = {pepper_id(key): key}
    old = db.scalar("SELECT value FROM meta WHERE key = ?", (_PEPPER_META_KEY,))
    if old is not None:
        stored = bytes.fromhex(str(old))
        keys[pepper_id(stored)] = stored
    return PinPeppers(pepper_id(key), keys)


# The stored `locked_until` of a card only staff can unlock (its lockout ladder ran out).
UNTIL_STAFF = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class PinResult:
    """The verdict on one PIN. `known` is False for a card the ledger does not hold;
    `locked_until` is set while the card is locked (and on the attempt that locked it,
    `locked_now`), `UNTIL_STAFF` when only staff can lift the lock."""

    ok: bool
    attempts_left: int
    locked_until: datetime | None = None
    known: bool = True
    locked_now: bool = False

    @property
    def until_staff(self) -> bool:
        return self.locked_until is not None and self.locked_until >= UNTIL_STAFF


def _scrypt(pin: str, key: bytes, salt: bytes, cost: ScryptCost) -> bytes:
    peppered = hmac.new(key, pin.encode(), hashlib.sha256).digest()
    return hashlib.scrypt(
        peppered, salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=32, maxmem=256 * cost.n * cost.r + 2**20
    )


def hash_pin(pin: str, peppers: PinPeppers, cost: ScryptCost = PIN_COST, salt: bytes | None = None) -> str:
    """Salted, peppered scrypt of `pin` in the self-describing form of the module doc."""
    salt = salt if salt is not None else os.urandom(16)
    digest = _scrypt(pin, peppers.current, salt, cost)
    return f"scrypt${peppers.current_id}${cost.n}${cost.r}${cost.p}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str, peppers: PinPeppers) -> bool:
    """Whether `pin` matches a stored hash (scrypt, or an earlier release's PBKDF2);
    False for anything malformed, an unknown pepper or absurd parameters."""
    try:
        algo, *fields = stored.split("$")
        if algo == "pbkdf2_sha256":
            iterations, salt_hex, digest_hex = fields
            digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iterations))
        elif algo == "scrypt":
            pid, n, r, p, salt_hex, digest_hex = fields
            cost = ScryptCost(int(n), int(r), int(p))
            key = peppers.keys.get(pid)
            if key is None or not (2 <= cost.n <= _MAX_N and 1 <= cost.r <= 32 and 1 <= cost.p <= 16):
                return False
            digest = _scrypt(pin, key, bytes.fromhex(salt_hex), cost)
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def needs_rehash(stored: str, peppers: PinPeppers) -> bool:
    """Whether a hash that verified should be replaced: not scrypt at `PIN_COST` under the
    current pepper (an old PBKDF2 hash, a demo-cost hash, an older pepper)."""
    cost = PIN_COST
    return not stored.startswith(f"scrypt${peppers.current_id}${cost.n}${cost.r}${cost.p}$")


def check_pin(
    db: Database,
    scheme: str,
    number: str,
    pin: str,
    now: datetime,
    policy: Scheme,
    peppers: PinPeppers,
    kiosk_id: str | None = None,
) -> PinResult:
    """Verify a reader's PIN under the card scheme's `policy` (see module doc), counting
    the attempt whoever sent it. Even the right PIN is refused while the card is locked.
    A right PIN whose stored hash is outdated is re-hashed in the same transaction. A
    lock this attempt makes names `kiosk_id` as its cause (`cards_locked_by`)."""
    key = card_hash(scheme, number)
    with db.write():
        row = db.query_one(
            "SELECT pin_hash, pin_failures, locked_until FROM readers WHERE card_hash = ?", (key,)
        )
        if row is None:
            return PinResult(ok=False, attempts_left=0, known=False)
        stored, failures, locked_text = row
        lock = still_locked(locked_text, now)
        if lock is not None:
            return lock
        if stored is not None and verify_pin(pin, stored, peppers):
            new_hash = hash_pin(pin, peppers) if needs_rehash(stored, peppers) else stored
            db.execute("UPDATE readers SET pin_hash = ? WHERE card_hash = ?", (new_hash, key))
            return count_right_pin(db, key, policy)
        return count_wrong_pin(db, key, int(failures or 0), policy, now, kiosk_id)


def still_locked(locked_text: str | None, now: datetime) -> PinResult | None:
    """The refusal for a card whose stored lock (`readers.locked_until`) has not ended."""
    locked_until = parse_time_text(locked_text)
    if locked_until is not None and locked_until > now:
        return PinResult(ok=False, attempts_left=0, locked_until=locked_until)
    return None


def lock_state(db: Database, key: str) -> tuple[int, str | None] | None:
    """(wrong PINs counted, stored lock) of the card `key`; None for a card the ledger
    lacks. For cards whose PIN another system checks (hub/ils/ils_operations.py)."""
    row = db.query_one("SELECT pin_failures, locked_until FROM readers WHERE card_hash = ?", (key,))
    return None if row is None else (int(row[0] or 0), row[1])


def count_verdict(
    db: Database, key: str, right: bool, policy: Scheme, now: datetime, kiosk_id: str | None
) -> PinResult:
    """Another system's verdict on a PIN of the card `key`, counted in one write
    transaction as the hub counts its own (`count_right_pin`, `count_wrong_pin`)."""
    with db.write():
        if right:
            return count_right_pin(db, key, policy)
        state = lock_state(db, key)
        return count_wrong_pin(db, key, state[0] if state else 0, policy, now, kiosk_id)


def count_right_pin(db: Database, key: str, policy: Scheme) -> PinResult:
    """A right PIN, inside the caller's write transaction: the count, the lock and its
    ladder start again."""
    db.execute(
        "UPDATE readers SET pin_failures = 0, locked_until = NULL, locked_by = NULL WHERE card_hash = ?", (key,)
    )
    return PinResult(ok=True, attempts_left=policy.pin_max_attempts)


def count_wrong_pin(
    db: Database, key: str, failures: int, policy: Scheme, now: datetime, kiosk_id: str | None
) -> PinResult:
    """One more wrong PIN on the card `key` (which had `failures`), inside the caller's
    write transaction: every `pin_max_attempts`-th locks it for the next step of the
    scheme's ladder (`Scheme.lockout_minutes`), or until staff lift it, naming the kiosk."""
    attempts = policy.pin_max_attempts
    failures += 1
    if failures % attempts:
        db.execute("UPDATE readers SET pin_failures = ? WHERE card_hash = ?", (failures, key))
        return PinResult(ok=False, attempts_left=attempts - failures % attempts)
    minutes = policy.lockout_minutes(failures // attempts)
    until = UNTIL_STAFF if minutes is None else now + timedelta(minutes=minutes)
    db.execute(
        "UPDATE readers SET pin_failures = ?, locked_until = ?, locked_by = ? WHERE card_hash = ?",
        (failures, time_text(until), kiosk_id, key),
    )
    return PinResult(ok=False, attempts_left=0, locked_until=until, locked_now=True)


def cards_locked_by(db: Database, kiosk_id: str, now: datetime) -> int:
    """How many cards are locked now by wrong PINs that `kiosk_id` sent."""
    return int(
        db.scalar(
            "SELECT count(*) FROM readers WHERE locked_by = ? AND locked_until > ?", (kiosk_id, time_text(now))
        )
        or 0
    )


def unlock_card(db: Database, scheme: str, number: str) -> bool | None:
    """Lift a card's lock and start its count and ladder again (staff, who saw the
    reader): True when it was locked, False when not, None for a card the ledger lacks."""
    key = card_hash(scheme, number)
    with db.write():
        row = db.query_one("SELECT locked_until FROM readers WHERE card_hash = ?", (key,))
        if row is None:
            return None
        db.execute(
            "UPDATE readers SET pin_failures = 0, locked_until = NULL, locked_by = NULL WHERE card_hash = ?", (key,)
        )
    return row[0] is not None


def unlock_cards_locked_by(db: Database, kiosk_id: str, now: datetime) -> int:
    """Lift every lock that `kiosk_id`'s wrong PINs made and that has not ended (staff,
    once they know the kiosk was guessing); how many."""
    with db.write():
        return db.execute(
            "UPDATE readers SET pin_failures = 0, locked_until = NULL, locked_by = NULL"
            " WHERE locked_by = ? AND locked_until > ?",
            (kiosk_id, time_text(now)),
        )
