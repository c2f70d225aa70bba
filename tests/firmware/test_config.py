"""Configuration: the packaged defaults load, and every kind of mistake is named plainly."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from contract.settings import (
    ALLIANCE_UTC_OFFSET_HOURS,
    OFFLINE_LOAN_DAYS,
    OFFLINE_MAX_ITEMS,
    leaf_keys,
)
from firmware.config import ConfigError, KioskConfig, default_config_text, load_config
from firmware.core.config import CoreConfig

ROOT = Path(__file__).resolve().parents[2]


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
    assert msg == (
        f"{tmp_path / 'kiosk.toml'}: devices.chute.jam_afer_s: unknown key, did you mean "
        "'jam_after_s'? (known: entry_pin, exit_pin, bounce_ms, jam_after_s)"
    )
    assert "display: unknown key (known: kiosk, hub, devices," in error_of(
        tmp_path, "[display]\nport = 1\n"
    )


def test_toml_types_are_not_coerced(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[offline]\nmax_items = true\n[devices.chute]\nexit_pin = "27"\n')
    assert msg.splitlines() == [
        f"{tmp_path / 'kiosk.toml'}: devices.chute.exit_pin: input should be a valid integer (got '27')",
        f"{tmp_path / 'kiosk.toml'}: offline.max_items: input should be a valid integer (got True)",
    ]
    assert "[timeouts]" in error_of(tmp_path, "timeouts = 5\n")  # a value where a table belongs


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
    secret.chmod(0o600)
    config = load_config(
        write(tmp_path, f'[hub]\nusername = "k"\npassword_file = "{secret}"\n'), {}
    )
    assert config.hub_password() == "s3cret"


def test_logging_level_is_case_insensitive(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[logging]\nlevel = "debug"\njson_lines = true\n'), {})
    assert config.logging.level == "DEBUG" and config.logging.json_lines


# ---- one source for each default ----


def test_alliance_wide_defaults_come_from_the_contract() -> None:
    config = KioskConfig()
    assert config.kiosk.utc_offset_hours == ALLIANCE_UTC_OFFSET_HOURS
    assert config.kiosk.timezone.utcoffset(None) == timedelta(hours=ALLIANCE_UTC_OFFSET_HOURS)
    assert config.offline.loan_days == CoreConfig().offline_loan_days == OFFLINE_LOAN_DAYS
    assert config.offline.max_items == CoreConfig().offline_max_items == OFFLINE_MAX_ITEMS


def test_the_core_timings_are_written_down_once() -> None:
    core, timeouts = CoreConfig(), KioskConfig().timeouts
    for key in type(timeouts).model_fields:
        assert getattr(timeouts, key) == getattr(core, key), key
    assert KioskConfig().offline.loans_allowed == core.offline_loans_allowed


def _documented_keys() -> set[str]:
    """Every key the packaged file shows, its commented-out examples included."""
    text = re.sub(r"(?m)^#\s*(\w+\s*=)", r"\1", default_config_text())
    keys: set[str] = set()

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                keys.add(f"{prefix}{key}")

    walk(tomllib.loads(text), "")
    return keys


def test_the_packaged_file_documents_exactly_the_models_keys() -> None:
    assert _documented_keys() == set(leaf_keys(KioskConfig))


# ---- every key reaches the code ----


def _sections(model: BaseModel, prefix: str = "") -> Iterator[tuple[BaseModel, str]]:
    yield model, prefix
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _sections(value, f"{prefix}{name}.")


def _trace_reads(monkeypatch: pytest.MonkeyPatch, config: KioskConfig) -> dict[str, str]:
    """Record, from now on, which of `config`'s keys code reads, and in which file."""
    where = {id(section): prefix for section, prefix in _sections(config)}
    reads: dict[str, str] = {}

    def traced(self: BaseModel, name: str) -> object:
        value = object.__getattribute__(self, name)
        prefix = where.get(id(self))
        if prefix is not None and name in type(self).model_fields:
            reads.setdefault(prefix + name, sys._getframe(1).f_code.co_filename)
        return value

    for cls in {type(section) for section, _ in _sections(config)}:
        monkeypatch.setattr(cls, "__getattribute__", traced, raising=False)
    return reads


class _FakeSpi:
    def xfer2(self, data: list[int]) -> list[int]:
        return [0] * len(data)

    def close(self) -> None:
        pass


# Read by the command line (kiosk_tools/app.py) before any kiosk is built.
READ_BY_THE_COMMAND_LINE = ("logging.level", "logging.json_lines", "logging.file")


def test_every_key_reaches_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured key that nothing reads is a defect: build the kiosk as `--sim` does
    and open a Pi's transports (SPI faked), and watch which keys are read."""
    import drivers.mfrc522_spi
    from firmware.hardware import pi_transports
    from kiosk_tools.simulated import build_simulated_kiosk

    overrides = {
        "journal.path": str(tmp_path / "journal.sqlite3"),
        "kiosk.utc_offset_hours": 9,
        "devices.scanner.port": "/dev/ttyS8",
        "devices.chute_scanner.port": "/dev/ttyS9",
    }
    config = load_config(None, overrides)
    reads = _trace_reads(monkeypatch, config)
    kiosk = build_simulated_kiosk(config)
    try:
        assert kiosk.runtime.wall().utcoffset() == timedelta(hours=9)  # the configured zone
    finally:
        kiosk.stop()
    monkeypatch.setattr(drivers.mfrc522_spi, "open_spi", lambda *a, **k: _FakeSpi())
    pi_transports(config).close()
    monkeypatch.undo()
    # The other card reader chip: a PN5180 reads its kind and its BUSY pin.
    pn5180 = load_config(
        None, {**overrides, "devices.card_reader.kind": "pn5180", "devices.card_reader.busy_pin": 26}
    )
    pn5180_reads = _trace_reads(monkeypatch, pn5180)
    build_simulated_kiosk(pn5180).stop()
    monkeypatch.undo()
    # The RFID tag readers, both fitted, with their RST pins; a Pi opens their SPI.
    tagged = load_config(None, {
        **overrides,
        "devices.rfid_pad.kind": "pn5180", "devices.rfid_pad.busy_pin": 16, "devices.rfid_pad.reset_pin": 12,
        "devices.chute_rfid.kind": "pn5180", "devices.chute_rfid.busy_pin": 26,
        "devices.chute_rfid.reset_pin": 13,
    })
    tagged_reads = _trace_reads(monkeypatch, tagged)
    build_simulated_kiosk(tagged).stop()
    monkeypatch.setattr(drivers.mfrc522_spi, "open_spi", lambda *a, **k: _FakeSpi())
    pi_transports(tagged).close()
    monkeypatch.undo()
    reads = {**tagged_reads, **pn5180_reads, **reads}

    cli = (ROOT / "kiosk_tools" / "app.py").read_text(encoding="utf-8")
    for key in READ_BY_THE_COMMAND_LINE:
        assert f"config.{key}" in cli, f"{key} is no longer read by kiosk_tools/app.py"
        reads[key] = "kiosk_tools/app.py"
    unread = sorted(set(leaf_keys(KioskConfig)) - set(reads))
    assert unread == [], f"configured keys nothing reads: {unread}"


# ---- a corrupt config stops the kiosk with the message, never a traceback ----


_FIELDS = [k.split(".") for k in leaf_keys(KioskConfig)]
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([".".join(f) for f in _FIELDS] + ["kiosk.nme", "x"]), _values))
def test_any_values_give_a_config_or_a_config_error(overrides: dict) -> None:
    try:
        load_config(None, overrides)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            assert line.startswith(("kiosk.toml (packaged): ", "command line: ")), line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[kiosk\n", "TOML syntax error"),
        ("[hub]\nbrokr = 'mqtt://x'\n", "hub.brokr: unknown key, did you mean 'broker'?"),
        ("[offline]\nmax_items = 'three'\n", "offline.max_items: input should be a valid integer"),
        ("[hub]\nbroker = 'htp://x'\n", "hub.broker: 'htp://x' is not an mqtt:// or mqtts:// URL"),
        (None, "file not found"),
    ],
)
def test_the_kiosk_exits_2_naming_file_and_key(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "--config", str(path), "--sim", "--headless"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert f"{path}: " in out.stderr and message in out.stderr
    assert "Traceback" not in out.stderr


def test_a_chute_reader_table_without_spi_keys_keeps_its_own_bus(tmp_path: Path) -> None:
    """`[devices.chute_rfid]` written without its SPI keys is on SPI1 CE0 (SPI0 has two
    chip selects on a Pi: the card reader's and the pad's)."""
    text = (
        "[devices.rfid_pad]\nkind = \"pn5180\"\nbusy_pin = 16\n"
        "[devices.chute_rfid]\nkind = \"pn5180\"\nbusy_pin = 26\n"
    )
    config = load_config(write(tmp_path, text))
    pad, chute = config.devices.rfid_pad, config.devices.chute_rfid
    assert ((pad.spi_bus, pad.spi_device), (chute.spi_bus, chute.spi_device)) == ((0, 1), (1, 0))


def test_an_em_pin_on_a_tag_readers_busy_pin_is_refused(tmp_path: Path) -> None:
    text = (
        "[devices.chute_rfid]\nkind = \"pn5180\"\nbusy_pin = 26\nreset_pin = 13\n"
        "[security]\nkind = \"em_gpio\"\nunsecure_pin = 5\nsecure_pin = 6\nconfirm_pin = 13\n"
    )
    with pytest.raises(ConfigError, match=r"GPIO 13 is used by both devices\.chute_rfid\.reset_pin and security\.confirm_pin"):
        load_config(write(tmp_path, text))


def test_two_rfid_readers_on_one_chip_select_are_refused_naming_both(tmp_path: Path) -> None:
    text = (
        "[devices.rfid_pad]\nkind = \"pn5180\"\nbusy_pin = 16\n"
        "[devices.chute_rfid]\nkind = \"pn5180\"\nbusy_pin = 26\nspi_bus = 0\nspi_device = 1\n"
    )
    with pytest.raises(ConfigError, match="rfid_pad and chute_rfid cannot share SPI bus 0 device 1"):
        load_config(write(tmp_path, text))
