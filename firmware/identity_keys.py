"""The kiosk's own TLS key, generated on the kiosk: `python -m kiosk_tools keygen` writes
the key (0600, never leaving the kiosk) and a certificate request that the technician
takes to the hub (`python -m hub enroll ID --library LIB --csr kiosk.csr`), which sends
back only the certificate (docs/security.md, "Enrol and revoke a kiosk")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY_NAME = "kiosk.key"
CSR_NAME = "kiosk.csr"


class KeygenError(RuntimeError):
    """The key could not be made; the message says what to do."""


@dataclass(frozen=True)
class IdentityRequest:
    key: Path
    csr: Path


def generate_identity(out_dir: Path, kiosk_id: str) -> IdentityRequest:
    """A new EC P-256 key in `out_dir/kiosk.key` (0600) and its request for CN
    `kiosk_id` in `out_dir/kiosk.csr`. KeygenError if a key is there already: replacing
    it would cut off the certificate issued for it."""
    folder = Path(out_dir)
    request = IdentityRequest(folder / KEY_NAME, folder / CSR_NAME)
    if request.key.exists():
        raise KeygenError(
            f"{request.key} exists: the kiosk already has a key (remove it only to enrol "
            "the kiosk again, after `python -m hub revoke`)"
        )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(request.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
        .sign(key, hashes.SHA256())
    )
    request.csr.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return request
