"""`[sip2]` in the hub config, and `python -m hub sip2-check` against a real ILS."""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path

import pytest

from contract.settings import ConfigError
from hub.__main__ import main
from hub.sip2.client import Sip2System
from hub.sip2.settings import load_sip2_settings, load_sip2_systems
from tests.hub.sip2.conftest import server_context
from tests.hub.sip2.peers import PASSWORD

CONFIG = """
[hub]
db = "sqlite:///var/hub.sqlite"

[sip2.systems.east]
host = "127.0.0.1"
port = {port}
user = "alliance"
password_file = "east.pw"
institution = "capital"
location = "alliance-kiosks"
encoding = "{encoding}"
guest_patrons = {{ nlc = "GUEST-NLC" }}
{extra}
[sip2.members]
dongcheng = "east"
"""


def write_config(tmp_path: Path, *, port: int = 6001, encoding: str = "gb18030",
                 extra: str = "", mode: int = 0o600) -> Path:
    pw = tmp_path / "east.pw"
    pw.write_text(PASSWORD + "\n")
    os.chmod(pw, mode)
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG.format(port=port, encoding=encoding, extra=extra))
    return path


def test_systems_and_members_are_read(tmp_path: Path) -> None:
    settings = load_sip2_settings(write_config(tmp_path))
    east = settings.systems["east"]
    assert (east.host, east.port, east.password, east.encoding, east.tls, east.allow_plain) == (
        "127.0.0.1", 6001, PASSWORD, "gb18030", True, False)  # TLS unless said otherwise
    assert settings.live_checkout_grace_s == 300
    assert east.guest_patrons == {"nlc": "GUEST-NLC"} and east.timeout_s == 5.0
    assert settings.members == {"dongcheng": "east"}
    assert PASSWORD not in repr(east)


def test_a_file_without_sip2_has_no_systems(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('[hub]\nworker = "2"\n')
    assert load_sip2_systems(path) == {}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("hots = 'x'", r"sip2.systems.east.hots: unknown key"),
        ("encoding = 'latin-1'", "sip2.systems.east.encoding"),
        ("tls = 'yes'", "sip2.systems.east.tls: input should be a valid boolean"),
        ("timeout_s = 0", "sip2.systems.east.timeout_s"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, extra: str, words: str) -> None:
    path = write_config(tmp_path, extra=extra.replace("encoding = 'latin-1'", ""))
    if "latin-1" in extra:
        path.write_text(path.read_text().replace('"gb18030"', '"latin-1"'))
    with pytest.raises(ConfigError, match=f"{path}: {words}"):
        load_sip2_systems(path)


def test_a_member_of_an_unknown_system_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('dongcheng = "east"', 'dongcheng = "west"'))
    with pytest.raises(ConfigError, match=r"sip2: members name unknown systems: dongcheng = 'west'"):
        load_sip2_systems(path)


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, mode=0o644)
    with pytest.raises(ConfigError, match=r"sip2.systems.east.password_file: .*refused.*0644"):
        load_sip2_systems(path)


def test_a_missing_tls_ca_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra='tls_ca = "east-ca.pem"')
    with pytest.raises(ConfigError, match=r"sip2.systems.east.tls_ca: .*east-ca\.pem: no such file"):
        load_sip2_systems(path)


def test_a_missing_password_file_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "east.pw").unlink()
    with pytest.raises(ConfigError, match=r"password_file: .*east\.pw: no such file"):
        load_sip2_systems(path)


def test_plain_tcp_without_allow_plain_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="tls = false")
    with pytest.raises(ConfigError, match=r"sip2.systems.east: .*tls = false: plain TCP carries the SIP2 password"):
        load_sip2_systems(path)
    with pytest.raises(ValueError, match="plain TCP refused"):  # nor can code build one
        Sip2System(name="east", host="127.0.0.1", port=1, user="u", password="p",
                   institution="capital", location="x", tls=False)


def test_plain_tcp_with_allow_plain_is_read_and_shown_as_such(tmp_path: Path) -> None:
    east = load_sip2_systems(write_config(tmp_path, extra="tls = false\nallow_plain = true"))["east"]
    assert (east.tls, east.allow_plain) == (False, True)


def test_a_pinned_fingerprint_is_read_as_tools_print_it_and_a_bad_one_is_named(tmp_path: Path) -> None:
    pin = "AB:" * 31 + "CD"
    east = load_sip2_systems(write_config(tmp_path, extra=f'tls_fingerprint = "sha256:{pin}"'))["east"]
    assert east.tls_fingerprint == pin.replace(":", "").lower()
    with pytest.raises(ConfigError, match=r"sip2.systems.east.tls_fingerprint: .*not a SHA-256 fingerprint"):
        load_sip2_systems(write_config(tmp_path, extra='tls_fingerprint = "AB:CD"'))


def test_the_live_checkout_grace_is_read_and_bounded(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text("[sip2]\nlive_checkout_grace_s = 120\n" + path.read_text())
    assert load_sip2_settings(path).live_checkout_grace_s == 120
    path.write_text(path.read_text().replace("= 120", "= 0"))
    with pytest.raises(ConfigError, match=r"sip2.live_checkout_grace_s"):
        load_sip2_settings(path)


def test_sip2_check_logs_in_over_tls_and_prints_what_the_ils_supports(
    tmp_path, start_ils, ils_identity, capsys
) -> None:
    ils = start_ils("gb18030", tls=server_context(ils_identity))
    path = write_config(tmp_path, port=ils.port, extra=f'tls_ca = "{ils_identity.ca}"')
    assert main(["sip2-check", "east", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"OK east (127.0.0.1:{ils.port}): logged in (gb18030), SIP2 2.00" in out
    assert "library name:   首都图书馆" in out and "checkout:       yes" in out
    assert "supported:      patron_status, checkout, checkin" in out
    assert "not supported:  block_patron, fee_paid" in out
    fingerprint = hashlib.sha256(
        ssl.PEM_cert_to_DER_cert(ils_identity.cert.read_text())).hexdigest()
    assert f"link:           TLSv1.3, server certificate sha256 {fingerprint}" in out
    # the fingerprint it printed pins the certificate without a CA file
    pinned = write_config(tmp_path, port=ils.port, extra=f'tls_fingerprint = "{fingerprint}"')
    assert main(["sip2-check", "east", "--config", str(pinned)]) == 0


def test_sip2_check_refuses_a_server_its_ca_did_not_sign_and_plain_tcp_says_so(
    tmp_path, start_ils, ils_identity, capsys
) -> None:
    ils = start_ils(tls=server_context(ils_identity))
    path = write_config(tmp_path, port=ils.port)  # trust store only: a private CA is not in it
    assert main(["sip2-check", "east", "--config", str(path)]) == 1
    assert "the server's certificate is not trusted" in capsys.readouterr().err
    plain = start_ils()
    path = write_config(tmp_path, port=plain.port, extra="tls = false\nallow_plain = true")
    assert main(["sip2-check", "east", "--config", str(path)]) == 0
    assert "link:           PLAIN TCP (allow_plain)" in capsys.readouterr().out
    path = write_config(tmp_path, port=plain.port)  # TLS expected, plain served
    assert main(["sip2-check", "east", "--config", str(path)]) == 1
    assert "TLS handshake failed" in capsys.readouterr().err


def test_sip2_check_fails_with_one_readable_line(tmp_path, start_ils, capsys) -> None:
    ils = start_ils()
    port = ils.port
    ils.stop()
    path = write_config(tmp_path, port=port)
    assert main(["sip2-check", "east", "--config", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"FAILED east: unavailable: east (127.0.0.1:{port}): cannot connect")
    assert len(err.splitlines()) == 1


def test_sip2_check_names_an_unknown_system(tmp_path, capsys) -> None:
    path = write_config(tmp_path)
    assert main(["sip2-check", "west", "--config", str(path)]) == 2
    assert "no [sip2.systems.west] (systems: east)" in capsys.readouterr().err
