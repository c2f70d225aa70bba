"""The hub's settings: defaults, an optional TOML file, then command-line overrides.

The file follows the alliance's settings convention (`contract.settings`, shared with the
kiosk): one `[hub]` table whose unknown keys are errors, TOML types taken as written,
and every problem one line naming the file, the key and what is wrong, e.g.
`hub.toml: hub.brokr: unknown key, did you mean 'broker'? (known: broker, db, ...)`.

    [hub]
    broker = "mqtt://127.0.0.1:1883"   # or mqtts://host[:8883]
    db = "sqlite:///var/hub.sqlite"    # or postgresql://user@host/db
    worker = "1"                       # MQTT client id hub-1: unique per worker
    session_expiry_s = 600
    offline_max_items = 3
    seed_per_member = 400

Kept apart from the service so the command line can report a bad setting (exit 2)
before it opens anything: the broker URL is checked here, at load.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from contract.broker_url import BrokerAddress, parse_broker_url
from contract.settings import (
    OFFLINE_MAX_ITEMS,
    ConfigError,
    Section,
    alliance_timezone,
    load_settings,
    validate_settings,
)

__all__ = ["DEFAULT_BROKER", "DEFAULT_DB", "ConfigError", "HubConfig", "HubFile", "load_config"]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
DEFAULT_DB = "sqlite:///var/hub.sqlite"
_WORKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class HubConfig(Section):
    """One hub worker's settings (the `[hub]` table); frozen, validated."""

    broker: str = DEFAULT_BROKER
    db: Annotated[str, Field(min_length=1)] = DEFAULT_DB
    # Names the worker in logs and in its MQTT client id (`hub-{worker}`), which is how
    # the broker finds the worker's session again: two workers must not share a name.
    worker: str = "1"
    # How long the broker keeps a worker's session (its share of the kiosks' messages)
    # while the worker is away: longer than a restart or a reboot takes, short enough
    # that a worker removed without `retire` stops holding messages back (docs/ordering.md).
    session_expiry_s: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = 600
    # What kiosks may lend per reader while offline; sent with every blocklist.
    offline_max_items: Annotated[int, Field(ge=0, le=100)] = OFFLINE_MAX_ITEMS
    seed_per_member: Annotated[int, Field(ge=0)] = 400  # demo catalogue size on an empty ledger

    @field_validator("broker")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parse_broker_url(value)  # raises ValueError in plain words
        return value

    @field_validator("worker")
    @classmethod
    def _worker_name(cls, value: str) -> str:
        if not _WORKER_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a worker name (1-64 letters, digits, '.', '_', '-')")
        return value

    @property
    def broker_address(self) -> BrokerAddress:
        """Host, port and TLS of `broker` (valid: it was checked at load)."""
        return parse_broker_url(self.broker)

    @property
    def timezone(self) -> tzinfo:
        """The alliance's local day (UTC+8): not a per-worker setting, since every worker
        shares one ledger and loan rules, due dates and expiry checks must agree on it."""
        return alliance_timezone()

    def with_overrides(self, **values: object) -> HubConfig:
        """A copy with command-line values (None: not given) checked like the file's;
        ConfigError blames them on "command line"."""
        given = {f"hub.{key}": value for key, value in values.items() if value is not None}
        return validate_settings(
            HubFile, {"hub": self.model_dump()}, name="(settings)", overrides=given
        ).hub


class HubFile(Section):
    """A hub settings file: its one table."""

    hub: HubConfig = HubConfig()


def load_config(path: str | Path | None) -> HubConfig:
    """HubConfig from the `[hub]` table of a TOML file; the defaults without one.
    Raises ConfigError, one line per problem, naming the file and the key."""
    if path is None:
        return HubConfig()
    return load_settings(HubFile, Path(path)).hub

