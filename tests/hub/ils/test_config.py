"""The hub settings file's `[sip2]` tables: exactly the issue's keys, unknown keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_config, load_hub_file, load_sip2

ISSUE_EXAMPLE = """
[hub]
worker = "2"

[sip2.systems.east]          # one entry per library system
host = "127.0.0.1"
port = 6001
user = "alliance"            # SIP2 login (CN), password from a 0600 file
password_file = "east.pw"
institution = "capital"      # AO
location = "alliance-kiosks" # CP / login location
encoding = "gb18030"
guest_patrons = { nlc = "GUEST-NLC" }  # virtual patron per partner scheme
[sip2.members]
dongcheng = "east"           # members whose items and cards live in that system
"""


def write(tmp_path: Path, text: str, password_mode: int = 0o600) -> Path:
    password = tmp_path / "east.pw"
    password.write_text("east-sip2-demo\n", encoding="utf-8")
    password.chmod(password_mode)
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issues_example_is_accepted_as_written(tmp_path: Path):
    path = write(tmp_path, ISSUE_EXAMPLE)
    assert load_config(path).worker == "2"  # [hub] as before
    settings = load_sip2(path)
    east = settings.systems["east"]
    assert (east.host, east.port, east.user, east.password) == ("127.0.0.1", 6001, "alliance", "east-sip2-demo")
    assert (east.institution, east.location, east.encoding) == ("capital", "alliance-kiosks", "gb18030")
    assert east.guest_patrons == {"nlc": "GUEST-NLC"}
    assert settings.members == {"dongcheng": "east"}


def test_without_a_sip2_table_nothing_changes(tmp_path: Path):
    path = write(tmp_path, '[hub]\nworker = "3"\n')
    assert load_hub_file(path).sip2.systems == {}
    assert load_sip2(path).members == {}
    assert load_sip2(None).systems == {}


def test_an_unknown_key_in_a_system_is_an_error_naming_it(tmp_path: Path):
    path = write(tmp_path, ISSUE_EXAMPLE.replace('encoding = "gb18030"', 'encodng = "gb18030"'))
    with pytest.raises(ConfigError, match=r"sip2\.systems\.east\.encodng: unknown key"):
        load_config(path)


def test_a_member_naming_a_system_that_is_not_there_is_an_error(tmp_path: Path):
    path = write(tmp_path, ISSUE_EXAMPLE.replace('dongcheng = "east"', 'dongcheng = "west"'))
    with pytest.raises(ConfigError, match="west"):
        load_config(path)


def test_a_password_file_others_can_read_is_refused(tmp_path: Path):
    path = write(tmp_path, ISSUE_EXAMPLE, password_mode=0o644)
    with pytest.raises(ConfigError, match="password_file"):
        load_sip2(path)
