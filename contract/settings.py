"""Settings files, read one way by the kiosk and the hub, and the alliance-wide defaults
both sides share.

The convention (`firmware.config` and `hub.config` are its two users):

- One TOML file per program, in tables by topic (`[kiosk]`, `[hub]`, `[devices.chute]`).
  Every key is optional; the defaults live in the pydantic models, once.
- Every table is a `Section`: unknown keys are an error, never ignored (a misspelt key
  on a kiosk in a branch library otherwise shows up weeks later as "the chute never
  jams"), and TOML's own types are taken as written: `max_items = true` or
  `entry_pin = "17"` is a mistake, not a number. Paths are TOML strings (`SettingPath`).
- Every problem is one line, `FILE: KEY: WHAT IS WRONG`, all of them at once, raised as
  one `ConfigError` (e.g. `kiosk.toml: hub.broker: 'htp://x' is not an mqtt:// or
  mqtts:// URL`, `hub.toml: hub.brokr: unknown key, did you mean 'broker'? (known: ...)`).
  A value given on the command line is blamed on "command line", not on the file.
  Values of keys that look secret (passwords, keys) are never echoed.
- A program that gets a `ConfigError` prints it and exits with status 2, no traceback.

What a caller may rely on: `load_settings` and `validate_settings` raise `ConfigError`
for every fault of the file or the values (missing or unreadable file, bad UTF-8, TOML
syntax, unknown key, wrong type or range, a model validator's ValueError) and nothing
else; the models are frozen.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from datetime import timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Beijing has kept UTC+8 without daylight saving since 1991, so a fixed offset is the
# alliance's local time and needs no tzdata. Local time decides which day a loan is due
# (the end of that day) and whether a card has expired.
ALLIANCE_UTC_OFFSET_HOURS = 8

# What a kiosk may lend per reader while the hub does not answer. The hub's blocklist
# answer carries its own value (hub `offline_max_items`); the kiosk's is used until then.
OFFLINE_MAX_ITEMS = 3

# The loan period of a book lent offline. The hub keeps the due date the reader was
# shown offline (hub/ledger/txn_effects.py: "the promise"), so it must not be longer than any
# lending scheme's own loan in contract/data/schemes.toml: NLC 31, bj-joint 42,
# univ-public 30 days. 28 days (four weeks, the same weekday) is within all of them;
# the Beijing joint card's 42 would lend NLC and university cards longer than their
# libraries allow. tests/contracts/test_settings.py checks it against the file.
OFFLINE_LOAN_DAYS = 28

UtcOffsetHours = Annotated[int, Field(ge=-12, le=14)]
SettingPath = Annotated[Path, Field(strict=False)]  # written as a TOML string

_SECRET_WORDS = ("password", "key", "secret", "token")

M = TypeVar("M", bound=BaseModel)


def alliance_timezone(utc_offset_hours: int = ALLIANCE_UTC_OFFSET_HOURS) -> timezone:
    """The alliance's local time zone (UTC+8 unless a setting says otherwise)."""
    return timezone(timedelta(hours=utc_offset_hours))


class ConfigError(ValueError):
    """A configuration problem; one line per problem, each naming the file (or "command
    line"), the key and the fault in words a technician can act on."""


class Section(BaseModel):
    """A table of a settings file: unknown keys rejected, TOML types taken as written."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TlsSection(Section):
    """`[hub.tls]` of the kiosk's and the hub's settings: the CA the broker's certificate
    must chain to (unset: the system's trust store) and this client's own certificate and
    key, from enrolment (kiosk) or `python -m hub pki` (hub worker)."""

    ca: SettingPath | None = None
    cert: SettingPath | None = None
    key: SettingPath | None = None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSection:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key must be given together")
        return self


# ---- reading ----


def read_toml(path: Path, name: str | None = None) -> dict[str, Any]:
    """The TOML document at `path`; ConfigError (named `name`, default the path) when the
    file is missing, unreadable, not UTF-8 or not TOML."""
    name = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    return parse_toml(text, name)


def parse_toml(text: str, name: str) -> dict[str, Any]:
    """`text` as a TOML document; ConfigError naming `name` and the line otherwise."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: TOML syntax error: {exc}") from None


def load_settings(
    model: type[M], path: Path, overrides: Mapping[str, Any] | None = None, *, name: str | None = None
) -> M:
    """Read `path` and validate it as `model` with `overrides` applied (`validate_settings`)."""
    name = name or str(path)
    return validate_settings(model, read_toml(path, name), name=name, overrides=overrides)


def validate_settings(
    model: type[M], data: Mapping[str, Any], *, name: str, overrides: Mapping[str, Any] | None = None
) -> M:
    """`data` (read from the file called `name`) as `model`, after applying `overrides`:
    nested dicts or dotted keys such as ``{"hub.broker": URL}``; a None value means "not
    given" and is skipped. Every problem becomes one line of a ConfigError."""
    merged = _deep_copy(data)
    overridden: set[str] = set()
    for key, value in _flatten(overrides or {}).items():
        if value is None:
            continue
        _set_dotted(merged, key, value)
        overridden.add(key)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc, words = describe_error(model, err)
            source = "command line" if loc in overridden else name
            lines.append(f"{source}: {loc}: {words}" if loc else f"{source}: {words}")
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def describe_error(model: type[BaseModel], err: Mapping[str, Any]) -> tuple[str, str]:
    """(dotted key, plain words) for one pydantic error of `model`; secrets never echoed."""
    path = tuple(str(p) for p in err["loc"])
    loc = ".".join(path)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return loc, _unknown_key(model, path)
    if kind == "missing":
        return loc, "is required"
    if kind in ("value_error", "assertion_error"):
        msg = str(err["msg"])
        return loc, msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a table ([{loc}]), not {_toml_type(value)}"
    secret = any(w in loc.lower() for w in _SECRET_WORDS)
    shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
    msg = str(err["msg"])
    return loc, f"{msg[:1].lower()}{msg[1:]}{shown}"


def fields_of(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[str]:
    """The keys the table at `path` of `model` knows (empty when `path` is no table)."""
    table = _table_at(model, path)
    return list(table.model_fields) if table is not None else []


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of `model` that holds a value rather than a table."""
    keys: list[str] = []
    for field_name, info in model.model_fields.items():
        sub = _section_type(info.annotation)
        if sub is not None:
            keys += leaf_keys(sub, f"{prefix}{field_name}.")
        else:
            keys.append(f"{prefix}{field_name}")
    return keys


# ---- helpers ----


def _unknown_key(model: type[BaseModel], path: tuple[str, ...]) -> str:
    *parent, key = path
    known = fields_of(model, tuple(parent))
    if not known:
        return "unknown key"
    hint = ""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    if close:
        hint = f", did you mean '{close[0]}'?"
    else:  # a key written above its table, e.g. `broker` instead of `[hub] broker`
        for table in known:
            if key in fields_of(model, (*parent, table)):
                hint = f", did you mean '{'.'.join((*parent, table, key))}' (under [{table}])?"
                break
    return f"unknown key{hint} (known: {', '.join(known)})"


def _table_at(model: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    table: type[BaseModel] | None = model
    for part in path:
        info = table.model_fields.get(part) if table is not None else None
        table = _section_type(info.annotation) if info is not None else None
    return table


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (also through `Optional`), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), f"{type(value).__name__}")


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = target[key] = {}
        target = nxt
    target[keys[-1]] = value


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
