"""The settings convention the kiosk and the hub share: one line per problem naming the
file and the key, unknown keys refused with the known ones listed, TOML types as
written, and the alliance-wide defaults checked against the scheme data they follow."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, field_validator

from contract.settings import (
    ALLIANCE_UTC_OFFSET_HOURS,
    OFFLINE_LOAN_DAYS,
    OFFLINE_MAX_ITEMS,
    ConfigError,
    Section,
    SettingPath,
    alliance_timezone,
    leaf_keys,
    load_settings,
    validate_settings,
)


class Tls(Section):
    ca: SettingPath | None = None


class Link(Section):
    broker: str = "mqtt://h"
    password: str | None = None
    retries: int = Field(default=3, ge=0)
    tls: Tls = Tls()

    @field_validator("broker")
    @classmethod
    def _mqtt(cls, value: str) -> str:
        if not value.startswith("mqtt://"):
            raise ValueError(f"{value!r} is not an mqtt:// URL")
        return value


class Demo(Section):
    link: Link = Link()
    enabled: bool = True


def error_of(data: dict, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        validate_settings(Demo, data, name="demo.toml", overrides=overrides)
    return str(info.value)


def schemes() -> list[dict]:
    text = resources.files("contract.data").joinpath("schemes.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["scheme"]


# ---- the alliance-wide defaults ----


def test_the_alliance_keeps_utc_plus_8() -> None:
    assert ALLIANCE_UTC_OFFSET_HOURS == 8
    noon_utc = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert noon_utc.astimezone(alliance_timezone()).date().isoformat() == "2026-03-02"
    assert alliance_timezone(9).utcoffset(None) == timedelta(hours=9)


def test_an_offline_loan_is_never_longer_than_any_lending_scheme_allows() -> None:
    # The hub keeps the due date shown offline, so it must fit every scheme's loan.
    lending = {s["id"]: s["loan_days"] for s in schemes() if s["loan_days"] > 0}
    assert lending["bj-joint"] == 42  # the joint card's longer loan is not the default
    assert min(lending.values()) >= OFFLINE_LOAN_DAYS, lending


def test_the_offline_item_limit_fits_every_lending_scheme() -> None:
    limits = {s["id"]: s["max_items"] for s in schemes() if s["loan_days"] > 0}
    assert min(limits.values()) >= OFFLINE_MAX_ITEMS, limits


# ---- one line per problem, naming file and key ----


def test_an_unknown_key_lists_the_known_ones_and_the_likely_one() -> None:
    assert error_of({"link": {"brokr": "mqtt://x"}}) == (
        "demo.toml: link.brokr: unknown key, did you mean 'broker'? "
        "(known: broker, password, retries, tls)"
    )
    assert error_of({"printer": {}}) == "demo.toml: printer: unknown key (known: link, enabled)"


def test_a_key_written_above_its_table_says_where_it_belongs() -> None:
    assert error_of({"retries": 2}) == (
        "demo.toml: retries: unknown key, did you mean 'link.retries' (under [link])? "
        "(known: link, enabled)"
    )


def test_toml_types_are_taken_as_written_not_coerced() -> None:
    assert error_of({"link": {"retries": True}}) == (
        "demo.toml: link.retries: input should be a valid integer (got True)"
    )
    assert "link.retries: input should be a valid integer (got '3')" in error_of(
        {"link": {"retries": "3"}}
    )
    assert "enabled: input should be a valid boolean (got 1)" in error_of({"enabled": 1})
    assert validate_settings(Demo, {"link": {"tls": {"ca": "/ca.pem"}}}, name="d").link.tls.ca == Path(
        "/ca.pem"
    )


def test_a_value_where_a_table_belongs_is_named() -> None:
    assert error_of({"link": 3}) == "demo.toml: link: must be a table ([link]), not a number"


def test_validator_words_are_kept_and_every_problem_gets_its_line() -> None:
    msg = error_of({"link": {"broker": "http://x", "retries": -1}, "enabled": "yes"})
    assert msg.splitlines() == [
        "demo.toml: link.broker: 'http://x' is not an mqtt:// URL",
        "demo.toml: link.retries: input should be greater than or equal to 0 (got -1)",
        "demo.toml: enabled: input should be a valid boolean (got 'yes')",
    ]


def test_secrets_are_not_echoed() -> None:
    msg = error_of({"link": {"password": 123456}})
    assert "link.password: input should be a valid string" in msg and "123456" not in msg


def test_overrides_are_blamed_on_the_command_line_and_none_means_not_given() -> None:
    assert error_of({}, {"link.broker": "http://x"}).startswith("command line: link.broker:")
    assert error_of({}, {"link": {"retries": -1}}).startswith("command line: link.retries:")
    demo = validate_settings(Demo, {"link": {"retries": 5}}, name="d", overrides={"link.retries": None})
    assert demo.link.retries == 5


def test_file_faults_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^.*absent\.toml: file not found$"):
        load_settings(Demo, tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[link\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: TOML syntax error: .*line 1"):
        load_settings(Demo, bad)
    bad.write_bytes(b"[link]\nbroker = '\xff'\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not UTF-8 text"):
        load_settings(Demo, bad)
    with pytest.raises(ConfigError, match=r"cannot read the file"):
        load_settings(Demo, tmp_path)  # a directory


def test_leaf_keys_walk_nested_tables() -> None:
    assert leaf_keys(Demo) == ["link.broker", "link.password", "link.retries", "link.tls.ca", "enabled"]


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8)
)
_keys = st.sampled_from(["link", "broker", "password", "retries", "tls", "ca", "enabled", "x"])
_documents = st.recursive(
    _scalars | st.lists(_scalars, max_size=3),
    lambda inner: st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _documents, max_size=4))
def test_any_document_gives_settings_or_a_config_error_never_a_traceback(data: dict) -> None:
    try:
        validate_settings(Demo, data, name="demo.toml")
    except ConfigError as exc:
        assert all(line.startswith("demo.toml: ") for line in str(exc).splitlines())
