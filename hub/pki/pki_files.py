"""The alliance PKI's files: where each one lives, written 0600 and read only when private.

Every failure is a `PkiError` whose message names the file and what to do; a secret
file that group or others can read is refused (`read_secret`), not used. `kiosks.json`
(kiosk → library, serial, revoked) is read and written here too: the CA signs the CRL
from it and enrolment keeps it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contract.atomic_files import write_atomic
from contract.private_files import shared_with_others

DEFAULT_PKI_DIR = Path("var/pki")


class PkiError(RuntimeError):
    """A PKI problem, in words a technician can act on (the file and the fix)."""


@dataclass(frozen=True)
class PkiPaths:
    """Where each file of the alliance PKI lives under `root`."""

    root: Path

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def hub_key(self) -> Path:
        return self.root / "hub.key"

    @property
    def hub_cert(self) -> Path:
        return self.root / "hub.crt"

    @property
    def hub_signing_key(self) -> Path:
        """The hub's Ed25519 key for signing acks, answers and commands (contract.signing)."""
        return self.root / "hub-signing.key"

    @property
    def hub_signing_pub(self) -> Path:
        """Its public half, which `enroll` copies into every kiosk's bundle."""
        return self.root / "hub-signing.pub"

    @property
    def pin_pepper(self) -> Path:
        """The hub's PIN pepper (hub/ledger/pins.py), 0600, for `[hub] pin_pepper_file`: kept out
        of the ledger so a copy of the ledger alone gives no PIN away."""
        return self.root / "pin-pepper"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def kiosks(self) -> Path:
        return self.root / "kiosks.json"


    @property
    def workers(self) -> Path:
        """One directory per extra hub worker's identity (`hub-NAME`), see `hub.pki.pki`."""
        return self.root / "workers"


@contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` to `path` as 0600, atomically and durably (`contract.atomic_files`:
    a temp file, fsync'd, renamed over it, the directory fsync'd).

    The temp file is created 0600 (mkstemp), never created readable and chmod-ed later;
    a missing parent is made 0700."""
    path = Path(path)
    with _private_umask():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, data, mode=0o600)


def read_secret(path: Path) -> bytes:
    """The bytes of a secret file; PkiError if it is missing or group/others can read it."""
    path = Path(path)
    if not path.exists():
        raise PkiError(f"{path}: no such file (run `python -m hub pki init` first?)")
    why = shared_with_others(path, "a private key")
    if why:
        raise PkiError(f"{path}: refused, {why}")
    return path.read_bytes()


def write_pem_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_secret(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def write_pem_cert(path: Path, cert: x509.Certificate) -> None:
    write_secret(path, cert.public_bytes(serialization.Encoding.PEM))


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(read_secret(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: not an EC private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise PkiError(f"{path}: no such file (run `python -m hub pki init` first?)") from None



def load_table(paths: PkiPaths) -> dict[str, dict]:
    try:
        data = json.loads(read_secret(paths.kiosks))
    except json.JSONDecodeError as exc:
        raise PkiError(
            f"{paths.kiosks}: not valid JSON ({exc.msg}); restore it from backup"
        ) from None
    return data.get("kiosks", {})




def save_table(paths: PkiPaths, kiosks: dict[str, dict]) -> None:
    text = json.dumps({"kiosks": kiosks}, indent=2, sort_keys=True) + "\n"
    write_secret(paths.kiosks, text.encode())


def enrolled_kiosks(root: Path) -> dict[str, dict]:
    """kiosk id → {library_id, serial, not_after, enrolled_at, revoked_at}."""
    return load_table(PkiPaths(Path(root)))
