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
    signing_key = "var/pki/hub-signing.key"   # unset: acks, answers, commands unsigned
    pin_pepper_file = "var/pki/pin-pepper"  # 0600, `hub pki init` writes it; required
    pepper_in_ledger_ok = false        # lab only: let a worker start without pin_pepper_file
    signed_ack_ttl_s = 86400           # how long a signed ack, answer, command is good for
    signed_resp_ttl_s = 120
    signed_cmd_ttl_s = 600
    offline_window_days = 7            # older offline txns are exceptions for staff
    pki_dir = "var/pki"                # unset: kiosks are not checked against kiosks.json
    request_rate_per_s = 20.0          # per kiosk; beyond it and the burst: rate_limited
    request_burst = 40
    session_token_ttl_s = 900          # how long a right PIN lets a card borrow at a kiosk
    max_clock_offset_s = 300           # beyond: kiosk flagged clock_off, its txns exceptions
    offline_presence_margin_s = 10     # heard this close around it: an "offline" loan was not
    late_txn_grace_s = 120             # a txn after an outage arrives this soon after reconnect
    offline_limit_hours = 24           # offline_max_items per card within these hours
    offline_loans_per_kiosk_hour = 240 # offline loans one kiosk may make in an hour
    van_kiosks = ["van-*"]             # kiosk ids the hub knows as book vans (fnmatch patterns)
    van_offline_max_items = 5          # offline loans per card at a van, instead of offline_max_items
    return_min_interval_s = 600        # a loan at one library, a return at another: at least
    returns_per_minute = 120           # more than one kiosk's chute takes from a reader
    txn_rate_per_s = 200.0             # per kiosk; beyond it and the burst: no ack (resent later)
    txn_burst = 10000                  # a week offline at a busy kiosk, drained at once
    max_parked_per_kiosk = 500         # txns waiting for a predecessor; beyond: no ack
    max_epochs_per_day = 20            # journal epochs a kiosk may open a day; beyond: rejected
    parked_max_age_h = 24.0            # older parked txns are committed as exceptions for staff
    commit_batch_max = 256             # txns committed together in one transaction, at most

    [hub.tls]                          # for mqtts://, see `python -m hub pki init`
    ca = "var/pki/ca.crt"
    cert = "var/pki/workers/1/hub.crt"
    key = "var/pki/workers/1/hub.key"

    [sip2.systems.east]                # a member's own library system, spoken to in SIP2
    host = "127.0.0.1"
    port = 6001
    user = "alliance"                  # SIP2 login (CN); the password is in a 0600 file
    password_file = "east.pw"          # relative to this file
    institution = "capital"            # AO
    location = "alliance-kiosks"       # CP / login location
    encoding = "gb18030"               # utf-8, gb18030 or cp850 (the SIP2 default)
    # optional: tls, tls_ca, timeout_s, utc_offset_hours (hub/sip2/settings.py)
    guest_patrons = { nlc = "GUEST-NLC" }  # the virtual patron per partner card scheme
    [sip2.members]
    dongcheng = "east"                 # members whose items and cards live in that system

Members not under `[sip2.members]` stay on the hub's own catalogue (docs/sip2.md, "The
hub and members' own systems"); without a `[sip2]` table nothing changes.

Kept apart from the service so the command line can report a bad setting (exit 2)
before it opens anything: the broker URL is checked here, at load.
"""

from __future__ import annotations

import re
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from contract.broker_url import BrokerAddress, parse_broker_url
from contract.settings import (
    OFFLINE_MAX_ITEMS,
    ConfigError,
    Section,
    SettingPath,
    TlsSection,
    alliance_timezone,
    load_settings,
    validate_settings,
)
from contract.signing import DEFAULT_TTL_S, KeyFileError, load_private_key
from hub.rules.offline_limits import OfflineLimits
from hub.sip2.settings import Sip2Section, Sip2Settings, resolve_sip2

__all__ = [
    "DEFAULT_BROKER",
    "DEFAULT_DB",
    "ConfigError",
    "HubConfig",
    "HubFile",
    "load_config",
    "load_hub_file",
    "load_sip2",
]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
DEFAULT_DB = "sqlite:///var/hub.sqlite"
_WORKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class HubConfig(Section):
    """One hub worker's settings (the `[hub]` table); frozen, validated."""

    broker: str = DEFAULT_BROKER
    # For mqtts://: the alliance CA and this worker's certificate and key (`[hub.tls]`,
    # `python -m hub pki init` writes var/pki/workers/1/hub.crt for worker 1). Unset ca:
    # the system's trust store; unset cert: no client certificate (the alliance broker
    # refuses such a client).
    tls: TlsSection = TlsSection()
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
    # The hub's Ed25519 key (`python -m hub pki init` writes var/pki/hub-signing.key): when
    # set, every ack, answer and command is signed (contract.signing), and kiosks holding
    # the public key act on nothing else. Unset: sent unsigned, as before.
    signing_key: SettingPath | None = None
    # A 0600 file holding the server-side PIN pepper (64 hex digits, hub/ledger/pins.py), kept
    # outside the ledger so a copied database alone cannot test PIN guesses (`python -m
    # hub pki init` writes var/pki/pin-pepper). A worker refuses to start without one,
    # unless `pepper_in_ledger_ok` (old test setups only): then the ledger's own pepper
    # in its `meta` table, which a copy of the ledger carries with it.
    pin_pepper_file: SettingPath | None = None
    pepper_in_ledger_ok: bool = False
    # How long a signed message is good for: an ack may wait a day in the session of a
    # kiosk that is away; an answer is stale after seconds; a command after minutes.
    signed_ack_ttl_s: Annotated[int, Field(ge=1, le=30 * 86400)] = DEFAULT_TTL_S["ack"]
    signed_resp_ttl_s: Annotated[int, Field(ge=1, le=86400)] = DEFAULT_TTL_S["resp"]
    signed_cmd_ttl_s: Annotated[int, Field(ge=1, le=30 * 86400)] = DEFAULT_TTL_S["cmd"]
    # How long a kiosk may stay offline: an offline txn whose `at` is older than this when
    # it reaches the hub is committed as an exception for staff (hub/ledger/txn_checks.py).
    offline_window_days: Annotated[int, Field(ge=1, le=365)] = 7
    # The alliance PKI directory (`python -m hub pki init`, holding `kiosks.json`). When
    # set, only enrolled, unrevoked kiosks are served, and a txn must name the kiosk's
    # enrolled library (hub/worker/enrolment.py). Unset: any kiosk id on a topic is served.
    pki_dir: SettingPath | None = None
    # Requests each kiosk may make (token bucket per kiosk in each worker): a sustained
    # rate and a burst; beyond them a request is answered `ok=false, error="rate_limited"`.
    request_rate_per_s: Annotated[float, Field(gt=0, le=10_000)] = 20.0
    request_burst: Annotated[int, Field(ge=1, le=100_000)] = 40
    # How long the session token of a right PIN (or a tap, for schemes without PINs) is
    # good for: an online loan or renewal whose `at` is later is an exception for staff
    # (hub/ledger/session_tokens.py). A reader session rarely lasts longer; short, since a token
    # cannot be revoked.
    session_token_ttl_s: Annotated[int, Field(ge=60, le=24 * 3600)] = 900
    # How far a kiosk's measured clock (telemetry) may be from the hub's: within it the
    # ledger corrects the kiosk's `at` by the offset; beyond it the kiosk is flagged
    # `clock_off` and each of its txns is an exception (`kiosk_clock_off`), placed on
    # the hub's clock instead of being re-dated by the offset (docs/ordering.md, "Clocks").
    max_clock_offset_s: Annotated[int, Field(ge=1, le=86400)] = 300
    # An "offline" loan dated where the hub heard the kiosk before and after, never this
    # many seconds apart, is an exception (`offline_while_online`, hub/ledger/kiosk_presence.py).
    # 0: not checked (a soak whose kiosks "lend offline" while connected).
    offline_presence_margin_s: Annotated[int, Field(ge=0, le=600)] = 10
    # How soon after the hub hears a kiosk again a txn it held through an outage must
    # arrive for an expired session token to be excused (hub/ledger/txn_checks.py).
    late_txn_grace_s: Annotated[int, Field(ge=0, le=3600)] = 120
    # The offline policy as the hub judges it: `offline_max_items` offline loans per card
    # within these hours, across kiosks; and offline loans per kiosk per hour. More:
    # exceptions `offline_over_card_limit`, `offline_over_kiosk_limit`.
    offline_limit_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24
    offline_loans_per_kiosk_hour: Annotated[int, Field(ge=1, le=100_000)] = 240
    # Book vans (hub/rules/offline_limits.py): kiosk ids (fnmatch patterns, e.g. "van-*")
    # the hub knows as vans, and the offline loans per card it allows them instead of
    # `offline_max_items`. The kiosk's own [kiosk] profile is never taken as proof.
    van_kiosks: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    van_offline_max_items: Annotated[int, Field(ge=0, le=100)] = 5  # a joint card's whole quota
    # Returns that cannot be true (exceptions, the loan stays open): one at another
    # library than the loan's sooner than this after it (`return_implausible`), and more
    # returns in a minute than one chute takes (`returns_over_chute_rate`).
    return_min_interval_s: Annotated[int, Field(ge=0, le=7 * 86400)] = 600
    # 120: two a second for a whole minute, faster than anyone feeds a chute by hand and
    # below what the chute itself takes at its configured 0.3 s gap (200 a minute).
    returns_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 120
    # Txns each kiosk may send (token bucket per kiosk in each worker): beyond the rate and
    # the burst a txn gets no ack, so the kiosk sends it again after its resend interval;
    # far above what a kiosk draining its journal sends (docs/ordering.md, "Bounds").
    txn_rate_per_s: Annotated[float, Field(gt=0, le=100_000)] = 200.0
    txn_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    # What one kiosk may leave waiting in its order (hub/ledger/order_caps.py): txns parked for a
    # predecessor (beyond: no ack, sent again later), journal epochs opened in a day
    # (beyond: rejected), and how long a parked txn waits before it goes to staff.
    max_parked_per_kiosk: Annotated[int, Field(ge=1, le=1_000_000)] = 500
    max_epochs_per_day: Annotated[int, Field(ge=1, le=10_000)] = 20
    parked_max_age_h: Annotated[float, Field(gt=0, le=90 * 24)] = 24.0
    # Group commit (hub/worker/group_commit.py): the txns that queued up while the previous
    # commit was flushing are committed in one transaction, at most this many: a bound on
    # how long one batch holds SQLite's write lock (batches of 140-200 under the bench's flood).
    commit_batch_max: Annotated[int, Field(ge=1, le=10_000)] = 256

    def refuse_pepper_in_ledger(self) -> None:
        """ConfigError (one line naming the setting) when a worker would keep the PIN
        pepper inside the ledger: no `pin_pepper_file` and no `pepper_in_ledger_ok`."""
        if self.pin_pepper_file is None and not self.pepper_in_ledger_ok:
            raise ConfigError(
                "hub.pin_pepper_file: not set, so the PIN pepper would live inside the ledger and a "
                "copy of it alone gives away PINs; set it to the 0600 file `python -m hub pki init` "
                "wrote (var/pki/pin-pepper), or `python -m hub pki pin-pepper` makes one"
            )

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(seconds=self.session_token_ttl_s)

    @property
    def parked_max_age(self) -> timedelta:
        return timedelta(hours=self.parked_max_age_h)

    @property
    def offline_limits(self) -> OfflineLimits:
        """Offline loans per card at each kiosk: vans' and the others' (`van_kiosks`)."""
        return OfflineLimits(self.offline_max_items, self.van_offline_max_items, tuple(self.van_kiosks))

    @field_validator("broker")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parse_broker_url(value)  # raises ValueError in plain words
        return value

    @field_validator("signing_key")
    @classmethod
    def _usable_signing_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                load_private_key(value)  # at load, not at the first ack
            except KeyFileError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("tls")
    @classmethod
    def _usable_tls_files(cls, value: TlsSection) -> TlsSection:
        """At load, not at the first connect: a missing file or a key others can read."""
        from hub.pki.pki_files import PkiError, read_secret

        for path in (value.ca, value.cert):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{path}: no such file")
        if value.key is not None:
            try:
                read_secret(value.key)
            except PkiError as exc:
                raise ValueError(str(exc)) from None
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
    """A hub settings file: the worker's `[hub]` table and the members' systems `[sip2]`."""

    hub: HubConfig = HubConfig()
    sip2: Sip2Section = Sip2Section()


def load_hub_file(path: str | Path | None) -> HubFile:
    """The whole settings file (`[hub]` and `[sip2]`); the defaults without one. Raises
    ConfigError, one line per problem, naming the file and the key."""
    if path is None:
        return HubFile()
    return load_settings(HubFile, Path(path))


def load_sip2(path: str | Path | None) -> Sip2Settings:
    """The members' systems of the settings file, resolved (password files read,
    relative to the file): none without a file or a `[sip2]` table. ConfigError for a
    password file that is missing or that group or others can read."""
    if path is None:
        return Sip2Settings({}, {})
    section = load_hub_file(path).sip2
    return resolve_sip2(section, name=str(path), base_dir=Path(path).parent)


def load_config(path: str | Path | None) -> HubConfig:
    """HubConfig from the `[hub]` table of a TOML file; the defaults without one.
    Raises ConfigError, one line per problem, naming the file and the key."""
    return load_hub_file(path).hub

