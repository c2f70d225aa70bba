"""TLS to the ACS: the client checks the ACS's certificate against `tls_ca`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.sip2.client import Sip2Client, Sip2Unavailable
from tests.hub.sip2.conftest import system_for
from tests.hub.sip2.peers import RawPeer, frame

STATUS = "98YYYYNN030003" + "20261201    120000" + "2.00" + "AOcapital|BXYYYYYYYYYYYYYYYY|"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ils.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "ils.crt", tmp_path / "ils.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def answer(request: bytes) -> bytes:
    seq = request[request.rindex(b"AY") + 2 : request.rindex(b"AY") + 3].decode()
    return frame(f"941AY{seq}AZ" if request.startswith(b"93") else f"{STATUS}AY{seq}AZ")


def test_sip2_over_tls_with_the_ils_ca(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    peer = RawPeer(answer, tls=server)
    try:
        with Sip2Client(system_for(peer.port, tls=True, tls_ca=cert)) as c:
            assert c.sc_status().institution == "capital"
        with pytest.raises(Sip2Unavailable, match="TLS handshake failed"):
            Sip2Client(system_for(peer.port, tls=True)).connect()  # not in the trust store
    finally:
        peer.close()
