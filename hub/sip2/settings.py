"""The `[sip2]` tables of the hub's TOML file, read the alliance's way (contract.settings):
unknown keys are errors naming file and key, TOML types taken as written.

    [sip2.systems.east]          # one entry per library system
    host = "127.0.0.1"
    port = 6001
    user = "alliance"            # SIP2 login (CN)
    password_file = "east.pw"    # 0600; relative paths are relative to the config file
    institution = "capital"      # AO
    location = "alliance-kiosks" # CP / login location
    encoding = "gb18030"         # utf-8 | gb18030 | cp850 (default)
    tls = true                   # the default: TLS to the ACS, its certificate verified
    tls_ca = "east-ca.pem"       # the CA its certificate must chain to (relative: to this file)
    tls_fingerprint = "sha256:AB:CD:..."  # or/and: the server certificate's pinned SHA-256
    allow_plain = false          # plain TCP (tls = false) only with this set: a lab link
    timeout_s = 5.0              # optional: connect and answer deadline
    utc_offset_hours = 8         # optional: the ILS's local time (default: the alliance's)
    guest_patrons = { nlc = "GUEST-NLC" }  # virtual patron per partner card scheme
    [sip2.members]
    dongcheng = "east"           # members whose items and cards live in that system
    [sip2]
    live_checkout_grace_s = 300  # a live checkout no loan txn claims by then is checked back in

What a caller may rely on: `load_sip2_settings` / `load_sip2_systems` raise `ConfigError`
(one line per problem, `FILE: KEY: WHAT`) for every fault, including a password file
that is missing, or readable by group or others, a member naming an unknown system, a
system on plain TCP without `allow_plain = true`, and a fingerprint that is not 64 hex
digits. With neither `tls_ca` nor `tls_fingerprint`, the system's trust store verifies.
Other tables of the file ([hub], ...) are left to hub/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from contract.private_files import shared_with_others
from contract.settings import (
    ALLIANCE_UTC_OFFSET_HOURS,
    ConfigError,
    Section,
    SettingPath,
    UtcOffsetHours,
    read_toml,
    validate_settings,
)
from hub.sip2.system import Sip2System, normal_fingerprint

NonEmpty = Annotated[str, Field(min_length=1)]
# `[sip2] live_checkout_grace_s`: long enough for a kiosk's loan txn after its answer,
# through a short outage; short enough that a book no txn follows is soon back.
DEFAULT_GRACE_S = 300


class Sip2SystemSection(Section):
    """`[sip2.systems.NAME]`: one library system."""

    host: NonEmpty
    port: Annotated[int, Field(ge=1, le=65535)]
    user: NonEmpty
    password_file: SettingPath
    institution: NonEmpty
    location: str
    encoding: Literal["utf-8", "gb18030", "cp850"] = "cp850"
    tls: bool = True
    tls_ca: SettingPath | None = None
    tls_fingerprint: str | None = None
    allow_plain: bool = False
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    utc_offset_hours: UtcOffsetHours = ALLIANCE_UTC_OFFSET_HOURS
    guest_patrons: dict[str, NonEmpty] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _plain_only_when_allowed(self) -> Sip2SystemSection:
        if not self.tls and not self.allow_plain:
            raise ValueError(
                "tls = false: plain TCP carries the SIP2 password (CO) and readers' PINs (AD)"
                " readable, and anyone on the path can change the answers; use tls = true with"
                " tls_ca or tls_fingerprint, or set allow_plain = true for a link you trust")
        return self

    @field_validator("tls_fingerprint")
    @classmethod
    def _fingerprint_as_hex(cls, value: str | None) -> str | None:
        return None if value is None else normal_fingerprint(value)


class Sip2Section(Section):
    """`[sip2]`: the systems, and which member lives in which. hub/config.py embeds it
    in the hub's file model (`HubFile.sip2`)."""

    systems: dict[str, Sip2SystemSection] = Field(default_factory=dict)
    members: dict[str, str] = Field(default_factory=dict)
    # A checkout a member's system made while a kiosk waited, that no loan txn claimed
    # within this, is checked back in (09) by the drainer (hub/ledger/ils_live.py).
    live_checkout_grace_s: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = DEFAULT_GRACE_S

    @model_validator(mode="after")
    def _members_name_systems(self) -> Sip2Section:
        unknown = {m: s for m, s in self.members.items() if s not in self.systems}
        if unknown:
            known = ", ".join(self.systems) or "none"
            raise ValueError(
                "members name unknown systems: "
                + ", ".join(f"{m} = {s!r}" for m, s in unknown.items())
                + f" (systems: {known})")
        return self


class _Sip2Only(Section):
    """The file as far as SIP2 is concerned."""

    sip2: Sip2Section = Sip2Section()


@dataclass(frozen=True)
class Sip2Settings:
    """The resolved `[sip2]` tables: systems with their passwords read, and members."""

    systems: dict[str, Sip2System]
    members: dict[str, str]  # member id -> system name
    live_checkout_grace_s: int = DEFAULT_GRACE_S


def parse_sip2_section(data: dict[str, Any], *, name: str) -> Sip2Section:
    """Validate the `sip2` table of an already-read TOML document named `name`."""
    return validate_settings(_Sip2Only, {"sip2": data.get("sip2", {})}, name=name).sip2


def resolve_sip2(section: Sip2Section, *, name: str, base_dir: Path) -> Sip2Settings:
    """Read each system's password file (relative paths from `base_dir`); ConfigError,
    one line per system, when one is missing or shared with others."""
    systems: dict[str, Sip2System] = {}
    problems: list[str] = []
    for sys_name, s in section.systems.items():
        key = f"sip2.systems.{sys_name}.password_file"
        path = s.password_file if s.password_file.is_absolute() else base_dir / s.password_file
        try:
            why = shared_with_others(path)
            if why is not None:
                problems.append(f"{name}: {key}: {path}: refused, {why}")
                continue
            password = path.read_text(encoding="utf-8").strip("\r\n")
        except FileNotFoundError:
            problems.append(f"{name}: {key}: {path}: no such file")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{name}: {key}: {path}: cannot read it ({exc})")
            continue
        ca = s.tls_ca
        if ca is not None and not ca.is_absolute():
            ca = base_dir / ca
        if s.tls and ca is not None and not ca.is_file():
            problems.append(f"{name}: sip2.systems.{sys_name}.tls_ca: {ca}: no such file")
            continue
        systems[sys_name] = Sip2System(
            name=sys_name, host=s.host, port=s.port, user=s.user, password=password,
            institution=s.institution, location=s.location, encoding=s.encoding, tls=s.tls,
            timeout_s=s.timeout_s, guest_patrons=dict(s.guest_patrons), tls_ca=ca,
            tls_fingerprint=s.tls_fingerprint, allow_plain=s.allow_plain,
            utc_offset_hours=s.utc_offset_hours)
    if problems:
        raise ConfigError("\n".join(problems))
    return Sip2Settings(systems, dict(section.members), section.live_checkout_grace_s)


def load_sip2_settings(config_path: str | Path) -> Sip2Settings:
    """The `[sip2]` tables of the hub TOML at `config_path`, resolved."""
    path = Path(config_path)
    section = parse_sip2_section(read_toml(path, str(path)), name=str(path))
    return resolve_sip2(section, name=str(path), base_dir=path.parent)


def load_sip2_systems(config_path: str | Path) -> dict[str, Sip2System]:
    """Every `[sip2.systems.NAME]` of the hub TOML at `config_path`, by name."""
    return load_sip2_settings(config_path).systems
