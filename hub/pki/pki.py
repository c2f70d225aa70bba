"""The alliance's certificate authority: one CA, the hub's and broker's certificates,
the hub's signing key and the CRL (kiosk certificates: `hub.pki.kiosk_certs`).

The CA signs client certificates for client authentication only and the broker's for
server authentication only, so one cannot stand in for the other.

Files, all written 0600 under a 077 umask (`hub.pki.pki_files.write_secret`), in the PKI
directory: `ca.key`, `ca.crt`, `hub.key`, `hub.crt` (client, CN `hub`: the default
worker and the tools), `workers/NAME/` (CN `hub-NAME`, one per extra hub worker, since
the broker makes the CN the client id), `server.key`, `server.crt` (SAN 127.0.0.1 and
localhost, plus any hosts given), `crl.pem`, `kiosks.json` and `hub-signing.key`,
`hub-signing.pub` (Ed25519: the hub signs what it sends kiosks, contract.signing), and
`pin-pepper` (the PIN pepper, `[hub] pin_pepper_file`: kept out of the ledger, hub/ledger/pins.py).

The CRL is re-signed from `kiosks.json` on every revocation and is valid for
`CRL_VALID_DAYS` (Mosquitto refuses every client once it expires: re-sign it with
`python -m hub pki crl` before then).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contract.signing import generate_key_pem
from hub.pki.pin_pepper import write_pepper_file
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

HUB_IDENTITY = "hub"
BROKER_IDENTITY = "broker"
RESERVED_IDS = frozenset({HUB_IDENTITY, BROKER_IDENTITY})
CA_VALID_DAYS = 3650
CERT_VALID_DAYS = 825
CRL_VALID_DAYS = 365
DEFAULT_WORKER = "1"  # hub.config.HubConfig.worker
_WORKER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Capital Library Alliance"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    cn: str,
    public_key: ec.EllipticCurvePublicKey,
    usage: x509.ObjectIdentifier,
    sans: Iterable[x509.GeneralName] = (),
) -> x509.Certificate:
    now = utc_now()
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
    ca_key = new_key()
    now = utc_now()
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
    write_pem_key(paths.ca_key, ca_key)
    write_pem_cert(paths.ca_cert, ca_cert)

    hub_key = new_key()
    write_pem_key(paths.hub_key, hub_key)
    write_pem_cert(
        paths.hub_cert,
        issue(
            ca_key, ca_cert, HUB_IDENTITY, hub_key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH
        ),
    )
    server_key = new_key()
    hosts = dict.fromkeys(["127.0.0.1", "localhost", *server_hosts])
    write_pem_key(paths.server_key, server_key)
    write_pem_cert(
        paths.server_cert,
        issue(
            ca_key,
            ca_cert,
            BROKER_IDENTITY,
            server_key.public_key(),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [_san(h) for h in hosts],
        ),
    )
    write_signing_key(paths)
    write_pin_pepper(paths)
    hub_worker_identity(paths.root, DEFAULT_WORKER)
    save_table(paths, {})
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


def write_pin_pepper(paths: PkiPaths) -> Path:
    """Generate the hub's PIN pepper file (`pin-pepper`, 0600). PkiError if one exists:
    every PIN hashed under it would stop verifying."""
    if paths.pin_pepper.exists():
        raise PkiError(f"{paths.pin_pepper}: a PIN pepper already exists; refusing to replace it (every stored PIN needs it)")
    write_pepper_file(paths.pin_pepper)
    return paths.pin_pepper


@dataclass(frozen=True)
class ClientIdentity:
    """A client's TLS files: the CA it trusts, its certificate (CN `name`) and its key."""

    name: str
    ca: Path
    cert: Path
    key: Path


def hub_worker_name(worker: str) -> str:
    """The CN (and so the MQTT client id and dynamic-security username) of hub worker
    `worker`: `hub-NAME`, as `hub.worker.service.client_id` names its session."""
    if not _WORKER.fullmatch(worker or ""):
        raise PkiError(f"hub worker name {worker!r} is not valid (a-z 0-9 _ -, at most 40)")
    return f"{HUB_IDENTITY}-{worker}"


def hub_worker_identity(root: Path, worker: str) -> ClientIdentity:
    """Hub worker `worker`'s identity under `workers/NAME/`, issued on first use.

    One per worker because the broker makes the CN the client id: two workers on one
    certificate would take the session from each other."""
    paths = PkiPaths(Path(root))
    name = hub_worker_name(worker)
    folder = paths.workers / worker
    ident = ClientIdentity(name, paths.ca_cert, folder / "hub.crt", folder / "hub.key")
    if not ident.cert.exists():
        key = new_key()
        cert = issue(
            load_key(paths.ca_key),
            load_cert(paths.ca_cert),
            name,
            key.public_key(),
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        write_pem_key(ident.key, key)
        write_pem_cert(ident.cert, cert)
    return ident


def server_identity(root: Path, name: str, folder: Path, hosts: Iterable[str] = ()) -> ClientIdentity:
    """A server certificate (CN `name`, server authentication only, SAN 127.0.0.1,
    localhost and `hosts`) and key under `folder` (`server.crt`, `server.key`), issued
    by this CA on first use: e.g. a lab member's SIP2 system (the ILS simulator), which
    the hub then verifies against `ca.crt`. `cert` and `key` of the answer are the
    server's; `ca` the CA a client trusts."""
    paths = PkiPaths(Path(root))
    folder = Path(folder)
    ident = ClientIdentity(name, paths.ca_cert, folder / "server.crt", folder / "server.key")
    if not ident.cert.exists():
        key = new_key()
        sans = [_san(h) for h in dict.fromkeys(["127.0.0.1", "localhost", *hosts])]
        cert = issue(
            load_key(paths.ca_key), load_cert(paths.ca_cert), name, key.public_key(),
            ExtendedKeyUsageOID.SERVER_AUTH, sans,
        )  # fmt: skip
        write_pem_key(ident.key, key)
        write_pem_cert(ident.cert, cert)
    return ident


def hub_admin_identity(root: Path) -> ClientIdentity:
    """The `hub` identity `pki init` issued: the tools' (enrol, revoke) on the broker."""
    paths = PkiPaths(Path(root))
    return ClientIdentity(HUB_IDENTITY, paths.ca_cert, paths.hub_cert, paths.hub_key)


def hub_worker_names(root: Path) -> list[str]:
    """The CNs of every hub worker identity issued so far."""
    folder = PkiPaths(Path(root)).workers
    if not folder.is_dir():
        return []
    return sorted(hub_worker_name(p.name) for p in folder.iterdir() if (p / "hub.crt").exists())


def write_crl(paths: PkiPaths) -> Path:
    """Sign a fresh CRL listing every revoked kiosk certificate, valid CRL_VALID_DAYS."""
    kiosks = load_table(paths)
    ca_key = load_key(paths.ca_key)
    ca_cert = load_cert(paths.ca_cert)
    now = utc_now()
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
