"""Signed hub messages: the hub signs every `ack`, `resp` and `cmd` it sends (Ed25519), and
a kiosk that holds the hub's public key acts only on messages that verify
(docs/security.md, "Signed hub messages").

Why: the broker's ACL (docs/security.md, "The broker") is one line of defence, and a
misconfigured or anonymous broker lets anyone publish on `.../ack`: a forged
`committed` ack then makes a kiosk forget a loan it never delivered. A signature the
kiosk checks holds whatever the broker lets through.

The envelope: two MQTT 5 user properties on the PUBLISH, the payload left as it is.

    sig = base64url(Ed25519 signature), no padding   (SIG_PROPERTY)
    exp = the expiry, integer Unix seconds (UTC)       (EXP_PROPERTY)

Why user properties and not a field in the JSON: every payload model is
`extra="forbid"`, so a `sig` field would make kiosks without this code reject every
ack (no deployment may break before it has keys); the signature covers the payload's
exact bytes, so nobody has to agree on a canonical JSON; and the correlation id of a
`resp` already travels in the properties (CorrelationData), not in the payload.

What is signed (`signed_bytes`): a fixed domain tag, then the kiosk id, the topic leaf
(`ack`, `resp`, `cmd`), the message id (the ack's `txn_id`, the resp's correlation
data, the cmd's `cmd_id`) and `exp` as decimal, each length-prefixed, then the payload
bytes. So a genuine message replayed on another kiosk's topic, on another leaf, with
another correlation id, or after its expiry does not verify.

What a caller may rely on:
- `sign` and `verify` never raise for bad input to `verify`: it returns a `Verdict`
  whose `reason` is one of `unsigned`, `malformed`, `bad-signature`, `expired`.
- `load_private_key` refuses a key file group or others can read, and
  `load_public_key` one they can write, each with a `KeyFileError` naming the file
  and the fix; both refuse a file that is not an Ed25519 PEM key.
"""

from __future__ import annotations

import base64
import binascii
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.private_files import shared_with_others

__all__ = [
    "DEFAULT_TTL_S",
    "EXP_PROPERTY",
    "SIG_PROPERTY",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "KeyFileError",
    "Signature",
    "Verdict",
    "from_user_properties",
    "generate_key_pem",
    "load_private_key",
    "load_public_key",
    "sign",
    "signed_bytes",
    "verify",
]

SIG_PROPERTY = "sig"
EXP_PROPERTY = "exp"
_DOMAIN = b"alliance/v1 hub-signed message\x00"

# How long a signed message is good for, by leaf. An ack may wait in the kiosk's broker
# session while the kiosk is away (a day); an answer is useless after the kiosk's
# request timeout (seconds), two minutes leave room for clock drift; a command that
# reaches a kiosk more than ten minutes late is stale. The hub's config overrides them.
DEFAULT_TTL_S: Mapping[str, int] = {"ack": 86400, "resp": 120, "cmd": 600}


class KeyFileError(ValueError):
    """A signing key file that is missing, unreadable, unsafe or not an Ed25519 key."""


@dataclass(frozen=True)
class Signature:
    """A message's signature and its expiry (Unix seconds)."""

    sig: bytes
    exp: int

    def user_properties(self) -> list[tuple[str, str]]:
        """The MQTT 5 user properties that carry it."""
        encoded = base64.urlsafe_b64encode(self.sig).rstrip(b"=").decode("ascii")
        return [(SIG_PROPERTY, encoded), (EXP_PROPERTY, str(self.exp))]


@dataclass(frozen=True)
class Verdict:
    """`ok`, or why not (`unsigned`, `malformed`, `bad-signature`, `expired`)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


OK = Verdict(True)


def _field(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return len(data).to_bytes(4, "big") + data


def signed_bytes(kiosk_id: str, leaf: str, message_id: str | bytes, exp: int, payload: bytes) -> bytes:
    """Exactly what is signed: unambiguous, since every field is length-prefixed."""
    return b"".join(
        [_DOMAIN, _field(kiosk_id), _field(leaf), _field(message_id), _field(str(exp)), payload]
    )


def sign(
    private_key: Ed25519PrivateKey,
    kiosk_id: str,
    leaf: str,
    message_id: str | bytes,
    payload: bytes,
    *,
    exp: int,
) -> Signature:
    """Sign `payload` as sent to `kiosk_id` on `leaf`, for `message_id`, good until `exp`."""
    return Signature(private_key.sign(signed_bytes(kiosk_id, leaf, message_id, exp, payload)), exp)


def from_user_properties(pairs: Iterable[tuple[str, str]] | None) -> Signature | Verdict:
    """The Signature in a message's user properties, or the Verdict saying why there is none."""
    found = {}
    for name, value in pairs or ():
        if name in (SIG_PROPERTY, EXP_PROPERTY):
            if name in found:
                return Verdict(False, "malformed")  # two signatures: which one would count?
            found[name] = value
    if not found:
        return Verdict(False, "unsigned")
    try:
        raw = found[SIG_PROPERTY]
        sig = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        exp = int(found[EXP_PROPERTY])
    except (KeyError, ValueError, binascii.Error):
        return Verdict(False, "malformed")
    if len(sig) != 64:
        return Verdict(False, "malformed")
    return Signature(sig, exp)


def verify(
    public_key: Ed25519PublicKey,
    kiosk_id: str,
    leaf: str,
    message_id: str | bytes,
    payload: bytes,
    user_properties: Iterable[tuple[str, str]] | None,
    *,
    now: float,
) -> Verdict:
    """Whether the message carries the hub's signature for exactly this kiosk, leaf and
    message id, and has not expired at `now` (Unix seconds)."""
    signature = from_user_properties(user_properties)
    if isinstance(signature, Verdict):
        return signature
    try:
        public_key.verify(
            signature.sig, signed_bytes(kiosk_id, leaf, message_id, signature.exp, payload)
        )
    except InvalidSignature:
        return Verdict(False, "bad-signature")
    if now > signature.exp:
        return Verdict(False, "expired")
    return OK


# ---- key files ----------------------------------------------------------------------


def generate_key_pem() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _read(path: Path, what: str) -> tuple[bytes, int]:
    try:
        return path.read_bytes(), path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no such file (the {what}; `python -m hub pki init` makes it)"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The hub's signing key from a PEM file that only its owner can read (0600)."""
    path = Path(path)
    data, _mode = _read(path, "hub signing key")
    why = shared_with_others(path, "a private key")
    if why:
        raise KeyFileError(f"{path}: refused, {why}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not a PEM private key without a passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key (the hub signs with Ed25519)")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The hub's public key from a PEM file that only its owner can change: whoever can
    write it can make the kiosk trust their own messages."""
    path = Path(path)
    data, mode = _read(path, "hub public key")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyFileError(
            f"{path}: refused, group or others can write it (mode {stat.S_IMODE(mode):04o}); "
            f"chmod 600 {path}, and copy it again from the hub"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key
