"""The kiosk's configuration: one TOML file, checked in full before anything starts.

Why pydantic with `extra="forbid"`: a misspelt key on a kiosk in a branch library is
otherwise silently ignored and shows up weeks later as "the chute never jams". Every
problem becomes one `ConfigError` line naming the file, the key and what is wrong, in
words a technician can act on (`kiosk.toml: hub.broker: 'htp://x' is not an mqtt:// or
mqtts:// URL`).

The packaged `firmware/kiosk.toml` holds the defaults (the same values as the models
below); they run the simulator: device ports left unset are the simulator's
pseudo-terminals, filled in when the kiosk starts with `--sim`.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.protocol import KioskId, LibraryId

DEFAULT_NAME = "kiosk.toml"

Seconds = Annotated[float, Field(gt=0)]
Pin = Annotated[int, Field(ge=0, le=27)]  # BCM GPIO numbers of a Raspberry Pi header


class ConfigError(ValueError):
    """A configuration problem; the message names the file, the key and the fault."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KioskSection(_Section):
    id: KioskId = "sim-kiosk-1"
    library_id: LibraryId = "capital"
    default_language: Literal["zh", "en"] = "zh"


class TlsSection(_Section):
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSection:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key must be given together")
        return self


class HubSection(_Section):
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls: TlsSection = TlsSection()
    request_timeout_s: Seconds = 3.0
    telemetry_interval_s: Seconds = 30.0

    @field_validator("broker")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        from firmware.hub_link import parse_broker_url

        parse_broker_url(value)  # raises ValueError in plain words
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> HubSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self


class CardReaderSection(_Section):
    spi_bus: Annotated[int, Field(ge=0)] = 0
    spi_device: Annotated[int, Field(ge=0)] = 0
    reset_pin: Pin | None = 25
    poll_interval_s: Seconds = 0.05
    key_hex: str = "FFFFFFFFFFFF"

    @field_validator("key_hex")
    @classmethod
    def _six_byte_key(cls, value: str) -> str:
        try:
            ok = len(bytes.fromhex(value)) == 6
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("must be a MIFARE key of 12 hex digits, e.g. 'FFFFFFFFFFFF'")
        return value.upper()


class ScannerSection(_Section):
    port: str | None = None  # None: the simulator's pseudo-terminal
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    suffix: Literal["CR", "LF", "CRLF"] = "CR"


class ChuteSection(_Section):
    entry_pin: Pin = 17
    exit_pin: Pin = 27
    bounce_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    jam_after_s: Seconds = 3.0


class OutputsSection(_Section):
    flap_pin: Pin | None = 22
    led_pin: Pin | None = 23
    buzzer_pin: Pin | None = 24


class DevicesSection(_Section):
    card_reader: CardReaderSection = CardReaderSection()
    scanner: ScannerSection = ScannerSection()
    chute_scanner: ScannerSection = ScannerSection()
    chute: ChuteSection = ChuteSection()
    outputs: OutputsSection = OutputsSection()

    @model_validator(mode="after")
    def _pins_not_shared(self) -> DevicesSection:
        used: dict[int, str] = {}
        pins = {
            "card_reader.reset_pin": self.card_reader.reset_pin,
            "chute.entry_pin": self.chute.entry_pin,
            "chute.exit_pin": self.chute.exit_pin,
            "outputs.flap_pin": self.outputs.flap_pin,
            "outputs.led_pin": self.outputs.led_pin,
            "outputs.buzzer_pin": self.outputs.buzzer_pin,
        }
        for name, pin in pins.items():
            if pin is None:
                continue
            if pin in used:
                raise ValueError(f"GPIO {pin} is used by both {used[pin]} and {name}")
            used[pin] = name
        ports = [p for p in (self.scanner.port, self.chute_scanner.port) if p is not None]
        if len(ports) != len(set(ports)):
            raise ValueError("scanner and chute_scanner cannot share one serial port")
        return self


class TimeoutsSection(_Section):
    inactivity_warn_s: Seconds = 45.0
    inactivity_logout_s: Seconds = 60.0
    summary_s: Seconds = 10.0
    card_left_warn_s: Seconds = 20.0

    @model_validator(mode="after")
    def _warn_before_logout(self) -> TimeoutsSection:
        if self.inactivity_warn_s >= self.inactivity_logout_s:
            raise ValueError("inactivity_warn_s must be shorter than inactivity_logout_s")
        return self


class OfflineSection(_Section):
    loans_allowed: bool = True
    max_items: Annotated[int, Field(ge=0, le=100)] = 3
    loan_days: Annotated[int, Field(ge=1, le=365)] = 28  # shown offline; the hub's ack is final


class JournalSection(_Section):
    path: Path = Path("var/kiosk/journal.sqlite3")
    prune_acked_after_days: Annotated[float, Field(ge=0)] = 30.0


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_lines: bool = False
    file: Path | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class KioskConfig(_Section):
    kiosk: KioskSection = KioskSection()
    hub: HubSection = HubSection()
    devices: DevicesSection = DevicesSection()
    timeouts: TimeoutsSection = TimeoutsSection()
    offline: OfflineSection = OfflineSection()
    journal: JournalSection = JournalSection()
    logging: LoggingSection = LoggingSection()

    def hub_password(self) -> str | None:
        """The broker password, read from `password_file` when one is given."""
        if self.hub.password_file is None:
            return self.hub.password
        return self.hub.password_file.read_text(encoding="utf-8").strip()


# ---- loading ----


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = target[key] = {}
        target = nxt
    target[keys[-1]] = value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


_SECRET_WORDS = ("password", "key")


def _describe(err: Any) -> tuple[str, str]:
    """(key path, plain words) for one pydantic error; secrets are never echoed."""
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    value = err.get("input")
    secret = any(w in loc for w in _SECRET_WORDS)
    if kind == "extra_forbidden":
        return loc, "unknown key (check the spelling)"
    if kind == "missing":
        return loc, "is required"
    if kind in ("value_error", "assertion_error"):
        return loc, str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
    return loc, f"{err['msg'][0].lower()}{err['msg'][1:]}{shown}"


def _read_toml(path: Path, name: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read the file ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: TOML syntax error: {exc}") from None


def default_config_text() -> str:
    """The packaged kiosk.toml (the defaults, with comments)."""
    return resources.files("firmware").joinpath(DEFAULT_NAME).read_text(encoding="utf-8")


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> KioskConfig:
    """Read `path` (None: the packaged defaults), apply `overrides` (nested dicts or
    dotted keys such as ``{"hub.broker": URL, "kiosk.id": ID}``, e.g. from the command
    line) and validate; raise ConfigError naming the file, the key and the fault."""
    if path is None:
        name = DEFAULT_NAME
        try:
            data = tomllib.loads(default_config_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name} (packaged): TOML syntax error: {exc}") from None
    else:
        name = str(path)
        data = _read_toml(Path(path), name)
    overridden: set[str] = set()
    for key, value in _flatten(overrides or {}).items():
        if value is None:
            continue
        _set_dotted(data, key, value)
        overridden.add(key)
    try:
        config = KioskConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc, words = _describe(err)
            source = "command line" if loc in overridden else name
            lines.append(f"{source}: {loc}: {words}")
        raise ConfigError("\n".join(lines)) from None
    _check_files(config, name)
    return config


def _check_files(config: KioskConfig, name: str) -> None:
    """Files named in the config must be readable now, not at the first reconnect."""
    files = {
        "hub.password_file": config.hub.password_file,
        "hub.tls.ca": config.hub.tls.ca,
        "hub.tls.cert": config.hub.tls.cert,
        "hub.tls.key": config.hub.tls.key,
    }
    for key, file in files.items():
        if file is None:
            continue
        try:
            with open(file, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"{name}: {key}: cannot read '{file}' ({exc.strerror})") from None
