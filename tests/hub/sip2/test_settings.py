"""`[sip2]` in the hub config, and `python -m hub sip2-check` against a real ILS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contract.settings import ConfigError
from hub.__main__ import main
from hub.sip2.settings import load_sip2_settings, load_sip2_systems
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
    assert (east.host, east.port, east.password, east.encoding, east.tls) == (
        "127.0.0.1", 6001, PASSWORD, "gb18030", False)
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


def test_a_missing_password_file_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "east.pw").unlink()
    with pytest.raises(ConfigError, match=r"password_file: .*east\.pw: no such file"):
        load_sip2_systems(path)


def test_sip2_check_prints_what_the_ils_supports(tmp_path, start_ils, capsys) -> None:
    ils = start_ils("gb18030")
    path = write_config(tmp_path, port=ils.port)
    assert main(["sip2-check", "east", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"OK east (127.0.0.1:{ils.port}): logged in (gb18030), SIP2 2.00" in out
    assert "library name:   首都图书馆" in out and "checkout:       yes" in out
    assert "supported:      patron_status, checkout, checkin" in out
    assert "not supported:  block_patron, fee_paid" in out


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
