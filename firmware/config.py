"""The kiosk's configuration: one TOML file, checked in full before anything starts.

It follows the alliance's settings convention (`contract.settings`, shared with the
hub): pydantic sections that reject unknown keys and take TOML types as written, and
every problem as one `ConfigError` line naming the file, the key and what is wrong, in
words a technician can act on (`kiosk.toml: hub.broker: 'htp://x' is not an mqtt:// or
mqtts:// URL`). `python -m kiosk_tools` prints them and exits with status 2.

One source for each default: the models below. Alliance-wide values (time zone, offline
policy) come from `contract.settings`, the core's timings from `CoreConfig`. The packaged
`firmware/kiosk.toml` repeats them as documentation (tests/firmware/test_config.py
proves the two agree and that every key reaches the code); they run the simulator:
device ports left unset are the simulator's pseudo-terminals, filled in when the kiosk
starts with `--sim`.
"""

from __future__ import annotations

from datetime import tzinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from contract.broker_url import parse_broker_url
from contract.messages import KioskId, LibraryId
from contract.printable import printable
from contract.private_files import shared_with_others
from contract.settings import (
    ALLIANCE_UTC_OFFSET_HOURS,
    OFFLINE_LOAN_DAYS,
    OFFLINE_MAX_ITEMS,
    ConfigError,
    Section,
    SettingPath,
    TlsSection,
    UtcOffsetHours,
    alliance_timezone,
    load_settings,
    parse_toml,
    validate_settings,
)
from contract.signing import KeyFileError, load_public_key
from contract.tag_data.record import DataModel
from firmware.core.config import CoreConfig, Profile
from firmware.hub_link.connection import KEEPALIVE_S

__all__ = ["DEFAULT_NAME", "ConfigError", "KioskConfig", "default_config_text", "load_config"]

DEFAULT_NAME = "kiosk.toml"

Seconds = Annotated[float, Field(gt=0)]
Pin = Annotated[int, Field(ge=0, le=27)]  # BCM GPIO numbers of a Raspberry Pi header

_CORE = CoreConfig()  # the core's own defaults, so they are written down once


class KioskSection(Section):
    id: KioskId = "sim-kiosk-1"
    library_id: LibraryId = _CORE.library_id
    default_language: Literal["zh", "en"] = _CORE.default_language  # type: ignore[assignment]
    large_text: bool = _CORE.large_text
    utc_offset_hours: UtcOffsetHours = ALLIANCE_UTC_OFFSET_HOURS
    # One firmware, three installations: "kiosk" (screen, lending and returns),
    # "book_drop" (chute, light, buzzer only: returns; no window is opened) and "van"
    # (long offline stretches: the hub's larger offline limit for vans is taken).
    profile: Profile = _CORE.profile

    @property
    def timezone(self) -> tzinfo:
        """Local time for due dates and receipts (the wall clock the core is given)."""
        return alliance_timezone(self.utc_offset_hours)


class HubSection(Section):
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    password_file: SettingPath | None = None
    tls: TlsSection = TlsSection()
    # The hub's Ed25519 public key (`python -m hub enroll` puts it in the bundle): when
    # set, the kiosk acts on no ack, answer or command the hub did not sign for it.
    hub_public_key: SettingPath | None = None
    # PINs travel only over TLS: on a plain mqtt:// link the kiosk does not send them
    # (the reader is asked to try again, the log says why). A lab may allow it.
    pins_over_plain: bool = False
    request_timeout_s: Seconds = 3.0
    telemetry_interval_s: Seconds = 30.0
    # MQTT keepalive: a dead route is known down 1-2 keepalives after it died; each
    # keepalive of silence costs one ping on the data plan (firmware/hub_link/connection.py).
    keepalive_s: Annotated[int, Field(ge=2, le=300)] = KEEPALIVE_S

    @field_validator("broker")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parse_broker_url(value)  # raises ValueError in plain words
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> HubSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self


class CardReaderSection(Section):
    """The reader-card reader: an MFRC522 (the default), or a PN5180 (docs/rfid.md),
    which needs its BUSY line on `busy_pin`."""

    kind: Literal["mfrc522", "pn5180"] = "mfrc522"
    spi_bus: Annotated[int, Field(ge=0)] = 0
    spi_device: Annotated[int, Field(ge=0)] = 0
    reset_pin: Pin | None = 25
    busy_pin: Pin | None = None
    poll_interval_s: Seconds = 0.05
    key_hex: str = "FFFFFFFFFFFF"

    @model_validator(mode="after")
    def _busy_for_pn5180(self) -> CardReaderSection:
        if self.kind == "pn5180" and self.busy_pin is None:
            raise ValueError("kind = 'pn5180' needs busy_pin (the PN5180's BUSY output)")
        return self

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


Baud = Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]


class ScannerSection(Section):
    # "serial": RS-232 or USB in CDC mode, read with pyserial from `port`.
    # "hid": USB keyboard mode, read (and grabbed) from the input device `device`.
    kind: Literal["serial", "hid"] = "serial"
    port: str | None = None  # None: the simulator's pseudo-terminal
    baud: Baud = 9600
    suffix: Literal["CR", "LF", "CRLF"] = "CR"
    device: str | None = None  # e.g. /dev/input/by-id/usb-...-event-kbd

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> ScannerSection:
        if self.kind == "hid" and self.port is not None:
            raise ValueError("port is for kind = 'serial'; a 'hid' scanner is named by device")
        if self.kind == "serial" and self.device is not None:
            raise ValueError("device is for kind = 'hid'; a 'serial' scanner is named by port")
        return self


class PrinterSection(Section):
    """The ESC/POS receipt printer; kind "none" (the default) prints nothing, and the
    reader keeps the QR receipt on screen as always."""

    kind: Literal["none", "usb", "serial", "network"] = "none"
    device: str | None = None  # usb: the usblp device, e.g. /dev/usb/lp0
    port: str | None = None  # serial: e.g. /dev/ttyUSB0
    baud: Baud = 9600
    host: str | None = None  # network: name or address
    tcp_port: Annotated[int, Field(ge=1, le=65535)] = 9100
    encoding: Literal["gb18030", "gbk"] = "gb18030"
    columns: Annotated[int, Field(ge=16, le=64)] = 32  # 58 mm paper: 32; 80 mm: 48
    cut: bool = True
    status_query: bool = True  # ask DLE EOT before each receipt (paper out, offline)

    @model_validator(mode="after")
    def _target_of_its_kind(self) -> PrinterSection:
        needs = {"usb": "device", "serial": "port", "network": "host"}
        for kind, key in needs.items():
            given = getattr(self, key) is not None
            if self.kind == kind and not given:
                raise ValueError(f"kind = '{kind}' needs {key}")
            if self.kind != kind and given:
                raise ValueError(f"{key} is for kind = '{kind}', not '{self.kind}'")
        return self


class ChuteSection(Section):
    entry_pin: Pin = 17
    exit_pin: Pin = 27
    bounce_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    jam_after_s: Seconds = 3.0


class OutputsSection(Section):
    flap_pin: Pin | None = 22
    led_pin: Pin | None = 23
    buzzer_pin: Pin | None = 24


class RfidReaderSection(Section):
    """A PN5180 reading ISO 15693 book tags (docs/rfid.md): the lending pad
    (`devices.rfid_pad`) or the return chute's reader (`devices.chute_rfid`). kind
    "none" (the default): not fitted. Each poll is one inventory; each new tag's first
    `read_blocks` blocks are read (5: a GB/T 35660.2 record with item id and owner ISIL),
    more only when the library's data model says the record goes on, and the stack is
    reported at once; a tag counts as gone after `settle_polls` polls without it."""

    kind: Literal["none", "pn5180"] = "none"
    spi_bus: Annotated[int, Field(ge=0)] = 0
    spi_device: Annotated[int, Field(ge=0)] = 1
    busy_pin: Pin | None = None
    reset_pin: Pin | None = None
    poll_interval_s: Seconds = 0.05
    settle_polls: Annotated[int, Field(ge=1, le=10)] = 2
    read_blocks: Annotated[int, Field(ge=1, le=64)] = 5

    @model_validator(mode="after")
    def _busy_when_fitted(self) -> RfidReaderSection:
        if self.kind == "pn5180" and self.busy_pin is None:
            raise ValueError("kind = 'pn5180' needs busy_pin (the PN5180's BUSY output)")
        return self


class ChuteRfidSection(RfidReaderSection):
    """The chute's reader: the same keys, on SPI1 CE0 by default (a Pi's SPI0 has two
    chip selects, the card reader's and the pad's; SPI1 needs `dtoverlay=spi1-1cs`,
    docs/rfid.md), so a `[devices.chute_rfid]` table that leaves the bus out does not
    land on another reader's."""

    spi_bus: Annotated[int, Field(ge=0)] = 1
    spi_device: Annotated[int, Field(ge=0)] = 0


class DevicesSection(Section):
    card_reader: CardReaderSection = CardReaderSection()
    rfid_pad: RfidReaderSection = RfidReaderSection()
    chute_rfid: ChuteRfidSection = ChuteRfidSection()
    scanner: ScannerSection = ScannerSection()
    chute_scanner: ScannerSection = ScannerSection()
    chute: ChuteSection = ChuteSection()
    outputs: OutputsSection = OutputsSection()
    printer: PrinterSection = PrinterSection()

    @model_validator(mode="after")
    def _pins_not_shared(self) -> DevicesSection:
        used: dict[int, str] = {}
        pins = {
            "card_reader.reset_pin": self.card_reader.reset_pin,
            "card_reader.busy_pin": self.card_reader.busy_pin,
            "rfid_pad.busy_pin": self.rfid_pad.busy_pin,
            "rfid_pad.reset_pin": self.rfid_pad.reset_pin,
            "chute_rfid.busy_pin": self.chute_rfid.busy_pin,
            "chute_rfid.reset_pin": self.chute_rfid.reset_pin,
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
        inputs = [d for d in (self.scanner.device, self.chute_scanner.device) if d is not None]
        if len(inputs) != len(set(inputs)):
            raise ValueError("scanner and chute_scanner cannot share one input device")
        spi = [
            (name, (section.spi_bus, section.spi_device))
            for name, section in (
                ("card_reader", self.card_reader),
                ("rfid_pad", self.rfid_pad),
                ("chute_rfid", self.chute_rfid),
            )
            if getattr(section, "kind", "none") != "none"
        ]
        for i, (name, address) in enumerate(spi):
            for other, other_address in spi[:i]:
                if address == other_address:
                    raise ValueError(
                        f"{other} and {name} cannot share SPI bus {address[0]} device {address[1]}"
                    )
        if self.printer.port is not None and self.printer.port in ports:
            raise ValueError("the printer and a scanner cannot share one serial port")
        return self


class SecuritySection(Section):
    """The book-security unit (docs/configuration.md#security). kind "none" (the
    default): no unit, loans and returns never touch a book's security. "em_gpio": an
    EM unit triggered by a `pulse_ms` pulse on `unsecure_pin` / `secure_pin`, with its
    "done" output on `confirm_pin` if it has one (waited for up to `timeout_ms`).
    "em_serial": an EM unit taking a command line on `port`, answering `ok_answer`
    within `timeout_ms`."""

    kind: Literal["none", "em_gpio", "em_serial"] = "none"
    unsecure_pin: Pin | None = None
    secure_pin: Pin | None = None
    confirm_pin: Pin | None = None
    pulse_ms: Annotated[int, Field(ge=1, le=5000)] = 200
    port: str | None = None
    baud: Baud = 9600
    unsecure_command: str = "DESENS"
    secure_command: str = "RESENS"
    ok_answer: str = "OK"
    timeout_ms: Annotated[int, Field(ge=10, le=10000)] = 1000

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> SecuritySection:
        pins = {"unsecure_pin": self.unsecure_pin, "secure_pin": self.secure_pin}
        if self.kind == "em_gpio":
            missing = [key for key, pin in pins.items() if pin is None]
            if missing:
                raise ValueError(f"kind = 'em_gpio' needs {' and '.join(missing)}")
            if self.unsecure_pin == self.secure_pin:
                raise ValueError("unsecure_pin and secure_pin must be different pins")
        elif any(pin is not None for pin in (*pins.values(), self.confirm_pin)):
            raise ValueError(f"pins are for kind = 'em_gpio', not '{self.kind}'")
        if self.port is not None and self.kind != "em_serial":
            raise ValueError(f"port is for kind = 'em_serial', not '{self.kind}'")
        return self

    def pins(self) -> dict[str, int]:
        """The GPIO pins this unit uses, by key, for the shared-pin check."""
        named = {"unsecure_pin": self.unsecure_pin, "secure_pin": self.secure_pin,
                 "confirm_pin": self.confirm_pin}
        return {f"security.{key}": pin for key, pin in named.items() if pin is not None}


class RfidSection(Section):
    """The library's convention for its RFID book tags (docs/rfid.md, docs/tag-data.md):
    the data model its tags are written in, and how their security is carried: "afi"
    (AFI `afi_in_stock` arms the gate, `afi_on_loan` lets the book through), "eas" (the
    ICODE SLIX EAS bit), "afi+eas" (both), or "none" (the gates do not read tags)."""

    data_model: DataModel = "iso28560-2"
    security: Literal["none", "afi", "eas", "afi+eas"] = "afi"
    afi_in_stock: Annotated[int, Field(ge=0, le=255)] = 0x07
    afi_on_loan: Annotated[int, Field(ge=0, le=255)] = 0xC2

    @model_validator(mode="after")
    def _two_afis(self) -> RfidSection:
        if "afi" in self.security and self.afi_in_stock == self.afi_on_loan:
            raise ValueError("afi_in_stock and afi_on_loan must differ, or the gate cannot tell them apart")
        return self


class TimeoutsSection(Section):
    inactivity_warn_s: Seconds = _CORE.inactivity_warn_s
    inactivity_logout_s: Seconds = _CORE.inactivity_logout_s
    summary_s: Seconds = _CORE.summary_s
    card_left_warn_s: Seconds = _CORE.card_left_warn_s

    @model_validator(mode="after")
    def _warn_before_logout(self) -> TimeoutsSection:
        if self.inactivity_warn_s >= self.inactivity_logout_s:
            raise ValueError("inactivity_warn_s must be shorter than inactivity_logout_s")
        return self


class OfflineSection(Section):
    loans_allowed: bool = _CORE.offline_loans_allowed
    max_items: Annotated[int, Field(ge=0, le=100)] = OFFLINE_MAX_ITEMS
    # The hub keeps the date shown offline as the due date: see OFFLINE_LOAN_DAYS.
    loan_days: Annotated[int, Field(ge=1, le=365)] = OFFLINE_LOAN_DAYS


class JournalSection(Section):
    path: SettingPath = Path("var/kiosk/journal.sqlite3")
    prune_acked_after_days: Annotated[float, Field(ge=0)] = 30.0


class VoiceSection(Section):
    """Spoken prompts (docs/configuration.md, [voice]): `language` "screen" follows the
    screen's language, "zh" / "en" always one, "both" Chinese then English. `player` is the
    command a WAV file's path is appended to; `synth` the espeak-ng executable; rendered
    prompts are cached in `cache_dir` (unset: `voice/` beside the journal)."""

    enabled: bool = _CORE.voice_enabled
    language: Literal["screen", "zh", "en", "both"] = "screen"
    volume: Annotated[int, Field(ge=0, le=100)] = _CORE.voice_volume
    player: Annotated[str, Field(min_length=1)] = "aplay -q"
    synth: Annotated[str, Field(min_length=1)] = "espeak-ng"
    cache_dir: SettingPath | None = None

    def cache_path(self, journal_path: Path) -> Path:
        return self.cache_dir if self.cache_dir is not None else journal_path.parent / "voice"


class LoggingSection(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_lines: bool = False
    file: SettingPath | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class KioskConfig(Section):
    kiosk: KioskSection = KioskSection()
    hub: HubSection = HubSection()
    devices: DevicesSection = DevicesSection()
    timeouts: TimeoutsSection = TimeoutsSection()
    offline: OfflineSection = OfflineSection()
    journal: JournalSection = JournalSection()
    logging: LoggingSection = LoggingSection()
    security: SecuritySection = SecuritySection()
    rfid: RfidSection = RfidSection()
    voice: VoiceSection = VoiceSection()

    @model_validator(mode="after")
    def _security_pins_free(self) -> KioskConfig:
        d = self.devices
        taken = {
            d.card_reader.reset_pin: "devices.card_reader.reset_pin",
            d.card_reader.busy_pin: "devices.card_reader.busy_pin",
            d.rfid_pad.busy_pin: "devices.rfid_pad.busy_pin",
            d.rfid_pad.reset_pin: "devices.rfid_pad.reset_pin",
            d.chute_rfid.busy_pin: "devices.chute_rfid.busy_pin",
            d.chute_rfid.reset_pin: "devices.chute_rfid.reset_pin",
            d.chute.entry_pin: "devices.chute.entry_pin",
            d.chute.exit_pin: "devices.chute.exit_pin",
            d.outputs.flap_pin: "devices.outputs.flap_pin",
            d.outputs.led_pin: "devices.outputs.led_pin",
            d.outputs.buzzer_pin: "devices.outputs.buzzer_pin",
        }
        for key, pin in self.security.pins().items():
            if pin is not None and pin in taken:
                raise ValueError(f"GPIO {pin} is used by both {taken[pin]} and {key}")
        return self

    def hub_password(self) -> str | None:
        """The broker password, read from `password_file` when one is given."""
        if self.hub.password_file is None:
            return self.hub.password
        return self.hub.password_file.read_text(encoding="utf-8").strip()


# ---- loading ----


def default_config_text() -> str:
    """The packaged kiosk.toml (the defaults, with comments)."""
    return resources.files("firmware").joinpath(DEFAULT_NAME).read_text(encoding="utf-8")


def enrolment_overrides(bundle: Path) -> dict[str, str]:
    """The settings an enrolment bundle (`python -m hub enroll --out DIR`) gives: the
    kiosk's certificate and key, the alliance CA and, when present, the hub's public key.
    For `python -m kiosk_tools --identity DIR` beside a config of other keys."""
    folder = Path(bundle)
    values = {
        "hub.tls.ca": folder / "ca.crt",
        "hub.tls.cert": folder / "kiosk.crt",
        "hub.tls.key": folder / "kiosk.key",
    }
    if (folder / "hub-signing.pub").exists():
        values["hub.hub_public_key"] = folder / "hub-signing.pub"
    return {key: str(path) for key, path in values.items()}


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> KioskConfig:
    """Read `path` (None: the packaged defaults), apply `overrides` (nested dicts or
    dotted keys such as ``{"hub.broker": URL, "kiosk.id": ID}``, e.g. from the command
    line; None values are skipped) and validate; raise ConfigError naming the file, the
    key and the fault, one line per problem."""
    if path is None:
        name = f"{DEFAULT_NAME} (packaged)"
        data = parse_toml(default_config_text(), name)
        config = validate_settings(KioskConfig, data, name=name, overrides=overrides)
    else:
        name = str(path)
        config = load_settings(KioskConfig, Path(path), overrides, name=name)
    _check_files(config, name)
    return config


_SECRET_FILES = ("hub.password_file", "hub.tls.key")


def _check_files(config: KioskConfig, name: str) -> None:
    """Files named in the config must be readable now, not at the first reconnect."""
    files = {
        "hub.password_file": config.hub.password_file,
        "hub.tls.ca": config.hub.tls.ca,
        "hub.tls.cert": config.hub.tls.cert,
        "hub.tls.key": config.hub.tls.key,
    }
    problems = []
    for key, file in files.items():
        if file is None:
            continue
        try:
            with open(file, "rb"):
                pass
        except OSError as exc:
            problems.append(f"{name}: {key}: cannot read '{printable(file)}' ({exc.strerror})")
            continue
        why = shared_with_others(file) if key in _SECRET_FILES else None
        if why:
            problems.append(f"{name}: {key}: '{printable(file)}' refused: {why}")
    if config.hub.hub_public_key is not None:
        try:
            load_public_key(config.hub.hub_public_key)
        except KeyFileError as exc:
            problems.append(f"{name}: hub.hub_public_key: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
