"""The alliance's certificate authority: one CA, one certificate per kiosk, a CRL.

Mosquitto turns a client certificate's CN into the MQTT username
(`use_identity_as_username`), and the ACL grants topics by username (`%u`), so the CN
*is* the kiosk's authority on the wire. This module is therefore strict about it:

- a kiosk's CN is its kiosk id, checked against the contract's `KioskId` pattern
  (`^[a-z0-9][a-z0-9_-]{0,63}$`), so it can never hold `+`, `#` or `/` and can never
  fill more or less than one topic level; the names the hub and broker use (`hub`,
  `broker`) are refused as kiosk ids;
- the CA signs kiosk certificates for client authentication only, the broker's for
  server authentication only, so one cannot stand in for the other.

Files, all written 0600 under a 077 umask (`write_secret`), in the PKI directory:
`ca.key`, `ca.crt`, `hub.key`, `hub.crt` (client, CN `hub`), `server.key`,
`server.crt` (SAN 127.0.0.1 and localhost, plus any hosts given), `crl.pem`,
`kiosks.json` (kiosk → library, serial, revoked) and `hub-signing.key`,
`hub-signing.pub` (Ed25519: the hub signs what it sends kiosks, contract.signing). A kiosk's key is never written here:
`enroll_kiosk` generates it in the kiosk's own bundle directory.

What a caller may rely on: every failure is a `PkiError` whose message names the file
and what to do; a secret file that group or others can read is refused
(`read_secret`), not used; the CRL is re-signed from `kiosks.json` on every revocation
and is valid for `CRL_VALID_DAYS` (Mosquitto refuses every client once it expires:
re-sign it with `python -m hub pki crl` before then).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contract.messages import KioskId, LibraryId
from contract.signing import generate_key_pem

DEFAULT_PKI_DIR = Path("var/pki")
HUB_IDENTITY = "hub"
BROKER_IDENTITY = "broker"
RESERVED_IDS = frozenset({HUB_IDENTITY, BROKER_IDENTITY})
CA_VALID_DAYS = 3650
CERT_VALID_DAYS = 825
CRL_VALID_DAYS = 365

# The same patterns as contract.messages.KioskId / LibraryId (one source: the contract).
_KIOSK_ID = re.compile(KioskId.__metadata__[0].pattern)
_LIBRARY_ID = re.compile(LibraryId.__metadata__[0].pattern)


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


@dataclass(frozen=True)
class KioskBundle:
    """What `enroll_kiosk` wrote for one kiosk: its key, certificate and the CA."""

    kiosk_id: str
    library_id: str
    key: Path
    cert: Path
    ca: Path
    serial: int


# ---- files -------------------------------------------------------------------------


@contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` to `path` as 0600, atomically (a temp file renamed over it).

    The file is created 0600 (os.open with the mode, under a 077 umask), never created
    readable and chmod-ed later."""
    path = Path(path)
    with _private_umask():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older tmp file may have had another mode
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)


def read_secret(path: Path) -> bytes:
    """The bytes of a secret file; PkiError if it is missing or group/others can read it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PkiError(f"{path}: no such file (run `python -m hub pki init` first?)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PkiError(
            f"{path}: refused, group or others can read it (mode {stat.S_IMODE(mode):04o}); "
            f"a private key must be 0600: chmod 600 {path}, and replace the key if others read it"
        )
    return path.read_bytes()


def _write_pem_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_secret(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _write_pem_cert(path: Path, cert: x509.Certificate) -> None:
    write_secret(path, cert.public_bytes(serialization.Encoding.PEM))


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(read_secret(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: not an EC private key")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise PkiError(f"{path}: no such file (run `python -m hub pki init` first?)") from None


# ---- certificates ------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Capital Library Alliance"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    cn: str,
    public_key: ec.EllipticCurvePublicKey,
    usage: x509.ObjectIdentifier,
    sans: Iterable[x509.GeneralName] = (),
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    sans = list(sans)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def init_pki(root: Path, server_hosts: Iterable[str] = ()) -> PkiPaths:
    """Create the alliance CA, the hub's client certificate (CN `hub`), the broker's
    server certificate (SAN 127.0.0.1, localhost and `server_hosts`), an empty CRL and
    an empty kiosk table. PkiError if a CA already exists there: a second CA would
    orphan every kiosk certificate issued by the first."""
    paths = PkiPaths(Path(root))
    if paths.ca_key.exists() or paths.ca_cert.exists():
        raise PkiError(f"{paths.root}: a CA already exists there; refusing to replace it")
    ca_key = _new_key()
    now = _now()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Capital Library Alliance kiosk CA"))
        .issuer_name(_name("Capital Library Alliance kiosk CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_pem_key(paths.ca_key, ca_key)
    _write_pem_cert(paths.ca_cert, ca_cert)

    hub_key = _new_key()
    _write_pem_key(paths.hub_key, hub_key)
    _write_pem_cert(
        paths.hub_cert,
        _issue(
            ca_key, ca_cert, HUB_IDENTITY, hub_key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH
        ),
    )
    server_key = _new_key()
    hosts = dict.fromkeys(["127.0.0.1", "localhost", *server_hosts])
    _write_pem_key(paths.server_key, server_key)
    _write_pem_cert(
        paths.server_cert,
        _issue(
            ca_key,
            ca_cert,
            BROKER_IDENTITY,
            server_key.public_key(),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [_san(h) for h in hosts],
        ),
    )
    write_signing_key(paths)
    _save_table(paths, {})
    write_crl(paths)
    return paths


def write_signing_key(paths: PkiPaths) -> None:
    """Generate the hub's Ed25519 signing key pair (`hub-signing.key`, `hub-signing.pub`).
    PkiError if one exists: every enrolled kiosk trusts its public half."""
    if paths.hub_signing_key.exists() or paths.hub_signing_pub.exists():
        raise PkiError(
            f"{paths.hub_signing_key}: a hub signing key already exists; refusing to replace "
            "it (every enrolled kiosk trusts it)"
        )
    private, public = generate_key_pem()
    write_secret(paths.hub_signing_key, private)
    write_secret(paths.hub_signing_pub, public)


# ---- kiosks ------------------------------------------------------------------------


def check_kiosk_id(kiosk_id: str) -> str:
    """`kiosk_id` if it may be a certificate CN (the contract's pattern, not reserved)."""
    if not isinstance(kiosk_id, str) or not _KIOSK_ID.fullmatch(kiosk_id):
        raise PkiError(
            f"kiosk id {kiosk_id!r} is not valid: a-z 0-9 _ -, starting with a letter or "
            "digit, at most 64 characters (no '+', '#' or '/')"
        )
    if kiosk_id in RESERVED_IDS:
        raise PkiError(f"kiosk id {kiosk_id!r} is reserved for the {kiosk_id} itself")
    return kiosk_id


def _load_table(paths: PkiPaths) -> dict[str, dict]:
    try:
        data = json.loads(read_secret(paths.kiosks))
    except json.JSONDecodeError as exc:
        raise PkiError(
            f"{paths.kiosks}: not valid JSON ({exc.msg}); restore it from backup"
        ) from None
    return data.get("kiosks", {})


def _save_table(paths: PkiPaths, kiosks: dict[str, dict]) -> None:
    text = json.dumps({"kiosks": kiosks}, indent=2, sort_keys=True) + "\n"
    write_secret(paths.kiosks, text.encode())


def enrolled_kiosks(root: Path) -> dict[str, dict]:
    """kiosk id → {library_id, serial, not_after, enrolled_at, revoked_at}."""
    return _load_table(PkiPaths(Path(root)))


def enroll_kiosk(root: Path, kiosk_id: str, library_id: str, out_dir: Path) -> KioskBundle:
    """Issue kiosk `kiosk_id` a client certificate (CN = kiosk id) and record it as
    standing in `library_id`. The key is generated here and written to `out_dir` (the
    kiosk's bundle) only, with the certificate and the CA certificate.

    PkiError if the id is invalid or reserved, or the kiosk is already enrolled and not
    revoked (revoke it first: its old certificate would stay valid)."""
    paths = PkiPaths(Path(root))
    check_kiosk_id(kiosk_id)
    if not isinstance(library_id, str) or not _LIBRARY_ID.fullmatch(library_id):
        raise PkiError(
            f"library id {library_id!r} is not valid (a-z 0-9 _ -, at most 64 characters)"
        )
    kiosks = _load_table(paths)
    known = kiosks.get(kiosk_id)
    if known is not None and known.get("revoked_at") is None:
        raise PkiError(
            f"kiosk {kiosk_id} is already enrolled (serial {known['serial']:x}); "
            f"revoke it first: python -m hub revoke {kiosk_id}"
        )
    ca_key = _load_key(paths.ca_key)
    ca_cert = _load_cert(paths.ca_cert)
    key = _new_key()
    cert = _issue(ca_key, ca_cert, kiosk_id, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH)
    out = Path(out_dir)
    bundle = KioskBundle(
        kiosk_id,
        library_id,
        out / "kiosk.key",
        out / "kiosk.crt",
        out / "ca.crt",
        cert.serial_number,
    )
    _write_pem_key(bundle.key, key)
    _write_pem_cert(bundle.cert, cert)
    write_secret(bundle.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    revoked_serials = list(known.get("revoked_serials", [])) if known else []
    if known is not None:
        revoked_serials.append(known["serial"])
    kiosks[kiosk_id] = {
        "library_id": library_id,
        "serial": cert.serial_number,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "enrolled_at": _now().isoformat(),
        "revoked_at": None,
        "revoked_serials": revoked_serials,
    }
    _save_table(paths, kiosks)
    return bundle


def revoke_kiosk(root: Path, kiosk_id: str) -> int:
    """Mark kiosk `kiosk_id` revoked and re-sign the CRL with its certificate in it;
    return the revoked serial. The broker reads the CRL at start and on SIGHUP only."""
    paths = PkiPaths(Path(root))
    kiosks = _load_table(paths)
    known = kiosks.get(kiosk_id)
    if known is None:
        raise PkiError(f"kiosk {kiosk_id!r} is not enrolled in {paths.root}")
    if known.get("revoked_at") is None:
        known["revoked_at"] = _now().isoformat()
        _save_table(paths, kiosks)
    write_crl(paths)
    return int(known["serial"])


def write_crl(paths: PkiPaths) -> Path:
    """Sign a fresh CRL listing every revoked kiosk certificate, valid CRL_VALID_DAYS."""
    kiosks = _load_table(paths)
    ca_key = _load_key(paths.ca_key)
    ca_cert = _load_cert(paths.ca_cert)
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=CRL_VALID_DAYS))
    )
    serials: set[int] = set()
    for entry in kiosks.values():
        serials.update(int(s) for s in entry.get("revoked_serials", []))
        if entry.get("revoked_at") is not None:
            serials.add(int(entry["serial"]))
    for serial in sorted(serials):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    write_secret(paths.crl, crl.public_bytes(serialization.Encoding.PEM))
    return paths.crl
