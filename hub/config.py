"""The hub's settings: defaults, an optional TOML file, then command-line overrides.

Kept apart from the service so the CLI can report a bad URL before it opens anything.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
DEFAULT_DB = "sqlite:///var/hub.sqlite"


class ConfigError(ValueError):
    """A setting the hub cannot use; the message names it and shows a valid form."""


@dataclass(frozen=True)
class HubConfig:
    broker: str = DEFAULT_BROKER
    db: str = DEFAULT_DB
    worker: str = "hub-1"
    offline_max_items: int = 3  # what kiosks may lend per reader while offline
    seed_per_member: int = 400  # demo catalogue size on an empty ledger
    utc_offset_hours: int = 8  # the alliance's local day (Beijing) for expiry checks

    def with_overrides(self, **values: object) -> HubConfig:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def load_config(path: str | Path | None) -> HubConfig:
    """HubConfig from a TOML file (top-level keys or a [hub] table); defaults without one."""
    if path is None:
        return HubConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    table = data.get("hub", data)
    known = {f.name: f for f in fields(HubConfig)}
    values = {}
    for key, value in table.items():
        if key not in known:
            continue
        expected = type(getattr(HubConfig(), key))
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{path}: {key} must be a {expected.__name__}")
        values[key] = value
    return HubConfig(**values)


def parse_broker_url(url: str) -> tuple[str, int]:
    """(host, port) of `mqtt://host[:port]` (also `tcp://`); port 1883 by default."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"not a broker URL: {url!r} (expected mqtt://host:port)")
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ConfigError(f"unsupported broker URL scheme {parts.scheme!r}: use mqtt://host:port")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError(f"bad port in broker URL {url!r}") from None
    if not parts.hostname:
        raise ConfigError(f"no host in broker URL {url!r} (expected mqtt://host:port)")
    return parts.hostname, port
