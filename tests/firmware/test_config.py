"""Configuration: the packaged defaults load, and every kind of mistake is named plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.config import ConfigError, KioskConfig, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides or {})
    return str(info.value)


def test_packaged_defaults_equal_the_model_defaults_and_run_the_simulator() -> None:
    config = load_config(None, {})
    assert config == KioskConfig()
    assert config.devices.scanner.port is None and config.devices.chute_scanner.port is None
    assert config.hub.broker.startswith("mqtt://")


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[kiosk]\nid = "van-3"\n[offline]\nloans_allowed = false\n'), {}
    )
    assert config.kiosk.id == "van-3"
    assert config.offline.loans_allowed is False
    assert config.timeouts == KioskConfig().timeouts


def test_overrides_by_dotted_key_or_nested_dict(tmp_path: Path) -> None:
    path = write(tmp_path, '[kiosk]\nid = "k1"\n')
    config = load_config(
        path,
        {
            "hub.broker": "mqtts://hub.example:8883",
            "kiosk": {"library_id": "xicheng"},
            "kiosk.id": None,
        },
    )
    assert config.hub.broker == "mqtts://hub.example:8883"
    assert config.kiosk.library_id == "xicheng"
    assert config.kiosk.id == "k1"  # None means "not given on the command line"


def test_a_bad_broker_url_names_file_key_and_value(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[hub]\nbroker = "htp://x"\n')
    assert (
        msg == f"{tmp_path / 'kiosk.toml'}: hub.broker: 'htp://x' is not an mqtt:// or mqtts:// URL"
    )


def test_a_bad_override_is_blamed_on_the_command_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "", {"hub.broker": "http://x"})
    assert msg.startswith("command line: hub.broker: 'http://x'")


def test_a_toml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[kiosk]\nid = "k1"\nlibrary_id = \n')
    assert "TOML syntax error" in msg and "line 3" in msg


def test_an_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[devices.chute]\njam_afer_s = 3\n")
    assert "devices.chute.jam_afer_s: unknown key" in msg
    assert "unknown key" in error_of(tmp_path, "[printer]\nport = 1\n")


def test_a_wrong_type_or_range_says_what_was_expected(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[devices.chute]\nentry_pin = "seventeen"\n')
    assert "devices.chute.entry_pin: input should be a valid integer" in msg
    assert "'seventeen'" in msg
    assert "greater than 0" in error_of(tmp_path, "[hub]\nrequest_timeout_s = 0\n")
    assert "devices.scanner.suffix" in error_of(tmp_path, '[devices.scanner]\nsuffix = "TAB"\n')
    assert "kiosk.default_language" in error_of(tmp_path, '[kiosk]\ndefault_language = "fr"\n')
    assert "kiosk.id" in error_of(tmp_path, '[kiosk]\nid = "Kiosk One"\n')


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[hub]\nbroker = "x"\n[offline]\nmax_items = -1\n')
    assert "hub.broker" in msg and "offline.max_items" in msg


def test_cross_field_mistakes_are_named(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[devices.outputs]\nled_pin = 17\n")
    assert "devices: GPIO 17 is used by both chute.entry_pin and outputs.led_pin" in msg
    msg = error_of(tmp_path, "[timeouts]\ninactivity_warn_s = 90\n")
    assert "inactivity_warn_s must be shorter than inactivity_logout_s" in msg
    msg = error_of(tmp_path, '[hub]\npassword = "a"\npassword_file = "/x"\n')
    assert "hub: give password or password_file, not both" in msg
    assert "cert and key must be given together" in error_of(
        tmp_path, '[hub.tls]\ncert = "/c.pem"\n'
    )


def test_a_bad_key_is_reported_without_echoing_it(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[devices.card_reader]\nkey_hex = "SECRETSECRET"\n')
    assert "devices.card_reader.key_hex: must be a MIFARE key of 12 hex digits" in msg
    assert "SECRETSECRET" not in msg


def test_missing_files_are_reported_at_load(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}) == KioskConfig()  # an empty file is valid
    msg = error_of(tmp_path, f'[hub]\npassword_file = "{tmp_path / "nope"}"\n')
    assert "hub.password_file: cannot read" in msg and "No such file" in msg
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", {})


def test_password_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = load_config(
        write(tmp_path, f'[hub]\nusername = "k"\npassword_file = "{secret}"\n'), {}
    )
    assert config.hub_password() == "s3cret"


def test_logging_level_is_case_insensitive(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[logging]\nlevel = "debug"\njson_lines = true\n'), {})
    assert config.logging.level == "DEBUG" and config.logging.json_lines
