"""The hub's settings follow the kiosk's convention: a `[hub]` table, unknown keys and
wrong types refused with file, key and what is wrong, the broker URL checked at load,
and every key read by the hub."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from contract.settings import ALLIANCE_UTC_OFFSET_HOURS, OFFLINE_MAX_ITEMS
from hub.config import ConfigError, HubConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
# Every key of the model, in its order: what an unknown-key message lists.
KNOWN = ", ".join(HubConfig.model_fields)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value).replace(f"{path}", "hub.toml")


def test_no_file_means_the_defaults_and_they_follow_the_contract() -> None:
    config = load_config(None)
    assert config == HubConfig()
    assert config.timezone.utcoffset(None) == timedelta(hours=ALLIANCE_UTC_OFFSET_HOURS)
    assert config.offline_max_items == OFFLINE_MAX_ITEMS


def test_the_hub_table_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[hub]\nworker = "w2"\nseed_per_member = 25\n'))
    assert (config.worker, config.seed_per_member) == ("w2", 25)
    assert config.db == HubConfig().db


def test_an_unknown_key_is_named_with_the_known_ones(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[hub]\nbrokr = "mqtt://x"\n') == (
        f"hub.toml: hub.brokr: unknown key, did you mean 'broker'? (known: {KNOWN})"
    )


def test_a_key_outside_the_hub_table_says_where_it_belongs(tmp_path: Path) -> None:
    assert error_of(tmp_path, 'broker = "mqtt://x"\n') == (
        "hub.toml: broker: unknown key, did you mean 'hub.broker' (under [hub])? (known: hub, sip2)"
    )


def test_the_broker_url_is_checked_at_load(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[hub]\nbroker = "htp://x"\n') == (
        "hub.toml: hub.broker: 'htp://x' is not an mqtt:// or mqtts:// URL"
    )
    config = load_config(write(tmp_path, '[hub]\nbroker = "mqtts://hub.example"\n'))
    address = config.broker_address
    assert (address.host, address.port, address.tls) == ("hub.example", 8883, True)


def test_wrong_types_and_ranges_are_one_line_each(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path, '[hub]\noffline_max_items = true\nseed_per_member = "25"\nutc_offset_hours = 8\n'
    )
    assert msg.splitlines() == [
        "hub.toml: hub.offline_max_items: input should be a valid integer (got True)",
        "hub.toml: hub.seed_per_member: input should be a valid integer (got '25')",
        f"hub.toml: hub.utc_offset_hours: unknown key (known: {KNOWN})",
    ]
    assert error_of(tmp_path, "[hub]\nworker = 'a b'\n").startswith("hub.toml: hub.worker: 'a b' is not")


def test_file_faults_name_the_file(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[hub\n").startswith("hub.toml: TOML syntax error:")
    with pytest.raises(ConfigError, match=r"absent\.toml: file not found"):
        load_config(tmp_path / "absent.toml")


def test_command_line_overrides_are_checked_and_blamed_on_the_command_line() -> None:
    config = HubConfig().with_overrides(broker="mqtt://10.0.0.2", db=None, worker="w3")
    assert (config.broker, config.db, config.worker) == ("mqtt://10.0.0.2", HubConfig().db, "w3")
    with pytest.raises(ConfigError) as info:
        HubConfig().with_overrides(broker="http://example")
    assert str(info.value) == "command line: hub.broker: 'http://example' is not an mqtt:// or mqtts:// URL"


# Keys the hub may read through a HubConfig property instead.
READ_THROUGH = {
    "broker": "broker_address",
    "session_token_ttl_s": "session_ttl",
    "pepper_in_ledger_ok": "refuse_pepper_in_ledger",
    "parked_max_age_h": "parked_max_age",
}


def test_every_key_is_read_by_the_hub() -> None:
    """A configured key that nothing reads is a defect: each appears as `config.KEY`
    (or its property) in the hub's code outside hub/config.py."""
    sources = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "hub").rglob("*.py") if p != ROOT / "hub" / "config.py"
    )
    unread = [
        key
        for key in HubConfig.model_fields
        if not re.search(rf"\bconfig\.({key}|{READ_THROUGH.get(key, key)})\b", sources)
    ]
    assert unread == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hub\n", "TOML syntax error"),
        ("[hub]\nbrokr = 'mqtt://x'\n", f"hub.brokr: unknown key, did you mean 'broker'? (known: {KNOWN})"),
        ("[hub]\nseed_per_member = 'many'\n", "hub.seed_per_member: input should be a valid integer"),
        (None, "file not found"),
    ],
)
def test_the_hub_exits_2_naming_file_and_key(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "hub", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert f"{path}: " in out.stderr and message in out.stderr
    assert "Traceback" not in out.stderr
