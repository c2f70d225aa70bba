"""The kiosk <-> hub MQTT payloads (docs/mqtt-contract.md), validated.

Both sides import this module; topics are in `contract.topics`. Every inbound payload is
parsed here with pydantic, so a hostile or malformed message becomes a `ProtocolError`
with a reason that is safe to log (it never contains a card number).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contract.ecard import TOKEN_PATTERN as ECARD_TOKEN_PATTERN

VERSION = 1

KioskId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
LibraryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Barcode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{6,20}$")]
CardNumber = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{6,24}$")]
SchemeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
TxnId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{10,64}$")]
# Opaque to the kiosk: it keeps what the hub gave and hands it back (hub/ledger/session_tokens.py).
SessionToken = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{16,128}$")]
MAX_PAYLOAD_BYTES = 16 * 1024

# Every timestamp in a payload lies in these years (as written, before any offset is
# applied): a kiosk's clock that is that far off is broken, and a year like 9999 would
# overflow the hub's clock arithmetic (issue 16, finding 10).
FIRST_YEAR, LAST_YEAR = 2000, 2100
TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
_FROM_WIRE = {"from_wire": True}  # the validation context of `parse` and `parse_request`


def _sane_moment(moment: datetime, info: ValidationInfo) -> datetime:
    from_wire = isinstance(info.context, dict) and info.context.get("from_wire") is True
    if from_wire and not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise PydanticCustomError(
            TIMESTAMP_OUT_OF_RANGE, "timestamp outside the years {first}-{last}", {"first": FIRST_YEAR, "last": LAST_YEAR}
        )
    return moment


# A timestamp of the contract: ISO 8601, with an offset or naive (read as UTC). What
# arrives (`parse`, `parse_request`) must lie in the years FIRST_YEAR..LAST_YEAR, or
# ProtocolError names the field and `timestamp_out_of_range`. A message built in code is
# not judged: a kiosk whose clock is that wrong still journals what it did (the journal
# is the record), and the hub refuses the txn when it arrives, naming it.
Moment = Annotated[datetime, AfterValidator(_sane_moment)]


class ProtocolError(ValueError):
    """A payload that does not follow the contract; `reason` is safe to log and to send."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=512)
    v: Literal[1] = 1


class Bilingual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=512)
    zh: str
    en: str


class CardRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: SchemeId
    number: CardNumber


# ---- transactions (kiosk -> hub, .../txn) and their acks (hub -> kiosk, .../ack) ----


class Txn(_Msg):
    """A journal row. `at` is when the reader was told (ISO 8601 with offset)."""

    txn_id: TxnId
    kiosk_id: KioskId
    library_id: LibraryId
    kind: Literal["loan", "return", "renew"]
    card: CardRef | None = None  # a return may come without a card
    item: Barcode
    at: Moment
    mode: Literal["online", "offline"]
    due: Moment | None = None  # loans and renewals: what the reader was shown
    route: Literal["shelve", "transfer", "hold"] | None = None  # returns
    # Per-kiosk order (docs/ordering.md): the row's place in its kiosk's journal. `seq`
    # counts 1, 2, ... within one journal (`epoch`, a new one if a journal is ever
    # replaced); `floor` is the oldest row the kiosk still holds unacked when it sends
    # this one, so everything before it is already committed. The hub applies a kiosk's
    # rows strictly in `seq` order. Absent (older kiosks): applied on arrival.
    seq: Annotated[int, Field(ge=1)] | None = None
    epoch: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,32}$")] | None = None
    floor: Annotated[int, Field(ge=1)] | None = None
    # Online loans and renewals: the token the hub issued on this reader's PIN check (or
    # tap, for schemes without PINs) at this kiosk. Offline rows carry none.
    session_token: SessionToken | None = None


def with_order(payload: bytes, seq: int, epoch: str, floor: int) -> bytes:
    """A stored txn payload (a JSON object) with its order fields added, without parsing
    it again: the outbox sends thousands of rows a second."""
    order = f',"seq":{int(seq)},"epoch":"{epoch}","floor":{int(floor)}}}'.encode()
    return payload.rstrip()[:-1] + order


class Ack(_Msg):
    txn_id: TxnId
    result: Literal["committed", "duplicate", "rejected"]
    reason: str | None = None
    exception: str | None = None  # committed, but held for staff (offline conflict)
    due: Moment | None = None  # the hub's due date for a loan


# ---- requests (kiosk -> hub, .../req, MQTT 5 ResponseTopic + CorrelationData) ----


class ReaderLookup(_Msg):
    op: Literal["reader_lookup"]
    card: CardRef
    library_id: LibraryId


class PinCheck(_Msg):
    op: Literal["pin_check"]
    card: CardRef
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,8}$")]


class EcardLogin(_Msg):
    """A phone e-card scanned at the desk (issue 19): the token as the scanner read it
    (`contract.ecard`). The hub checks it for the kiosk whose topic it came on, and
    answers as a `reader_lookup` answers an authenticated reader, or refuses it."""

    op: Literal["ecard_login"]
    token: Annotated[str, StringConstraints(pattern=ECARD_TOKEN_PATTERN, max_length=200)]
    library_id: LibraryId


class CheckoutAuth(_Msg):
    """May this card borrow this book here now. `session_token` is the token the hub gave
    on this card's right PIN (or tap, for schemes without PINs) at this kiosk: without a
    valid one the answer is `session_required`, and no member's system is asked."""

    op: Literal["checkout_auth"]
    card: CardRef
    item: Barcode
    library_id: LibraryId
    session_token: SessionToken | None = None


class RenewAuth(_Msg):
    """May this card renew this loan now; `session_token` as for `CheckoutAuth`."""

    op: Literal["renew_auth"]
    card: CardRef
    item: Barcode
    library_id: LibraryId
    session_token: SessionToken | None = None


class ReturnRoute(_Msg):
    op: Literal["return_route"]
    item: Barcode
    library_id: LibraryId


class Blocklist(_Msg):
    op: Literal["blocklist"]


class LedgerQuery(_Msg):
    """How many ledger rows hold these txn ids (scenario `expect committed`)."""

    op: Literal["ledger_query"]
    txn_ids: Annotated[list[TxnId], Field(max_length=100)]


Request = Annotated[
    ReaderLookup | PinCheck | EcardLogin | CheckoutAuth | RenewAuth | ReturnRoute | Blocklist | LedgerQuery,
    Field(discriminator="op"),
]


class LoanLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    item: Barcode
    title: str | None = None  # only after the PIN, for schemes that need one
    due: Moment
    renewals_left: int = 0


class HoldLine(BaseModel):
    """A book reserved for the reader, as the greeting shows it (issue 19): `ready` on the
    hold shelf of `pickup_library` (scanning it there lends it to this reader alone),
    `in_transit` on its way there. A hold whose book another reader still has is not
    listed: there is nothing to fetch or expect yet."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=512)
    item: Barcode
    title: str | None = None
    status: Literal["ready", "in_transit"]
    pickup_library: LibraryId
    pickup_library_name: Bilingual | None = None


class Response(_Msg):
    """Answer to any request. `ok` false with `error` means the request itself failed;
    `allowed` false with `reason_code`/`message` is a refusal the reader is shown."""

    ok: bool = True
    error: str | None = None
    # reader_lookup
    scheme: SchemeId | None = None
    state: Literal["valid", "expired", "blocked", "unknown"] | None = None
    masked_name: str | None = None
    pin_required: bool | None = None
    loans: list[LoanLine] | None = None
    items_left: int | None = None
    # with the loans (issue 19, optional: older hubs send neither): the reader's holds,
    # and which of `loans` fall due within three days of the hub's own date
    holds: Annotated[list[HoldLine], Field(max_length=50)] | None = None
    due_soon: Annotated[list[Barcode], Field(max_length=100)] | None = None
    # pin_check (a right PIN also gets `loans` with titles and `items_left`)
    pin_ok: bool | None = None
    attempts_left: int | None = None
    locked_until: Moment | None = None
    # a right PIN, or a lookup of a card whose scheme needs no PIN: online loans and
    # renewals of this card at this kiosk carry it back in `Txn.session_token`
    session_token: SessionToken | None = None
    # checkout_auth / renew_auth / return_route
    allowed: bool | None = None
    reason_code: str | None = None
    message: Bilingual | None = None
    title: str | None = None
    due: Moment | None = None
    home_library: LibraryId | None = None
    route: Literal["shelve", "transfer", "hold"] | None = None
    route_library: LibraryId | None = None
    route_library_name: Bilingual | None = None
    # blocklist: hashed card refs, never numbers: HMAC-SHA256(blocklist_salt,
    # "scheme:number") hex (contract.privacy.blocklist_hash), a new salt per answer.
    # Without a salt (hubs before issue 10 item 6) they are sha256 of "scheme:number".
    blocked_hashes: list[str] | None = None
    blocklist_salt: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32,128}$")] | None = None
    offline_max_items: int | None = None
    # ledger_query: txn_id -> rows in the ledger
    rows: dict[str, int] | None = None


# ---- state, telemetry, commands ----


class KioskState(_Msg):
    state: Literal["online", "offline", "maintenance"]
    firmware: str = ""
    library_id: LibraryId | None = None
    at: Moment | None = None


class UpdateReport(BaseModel):
    """The kiosk's last update (the updater's last-update.json), as the hub shows it."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=300)
    version: Annotated[str, StringConstraints(max_length=64)] | None = None
    result: Literal["ok", "rolled_back", "refused", "failed"]
    reason: str = ""
    at: Moment
    previous: Annotated[str, StringConstraints(max_length=64)] | None = None
    cmd_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class Telemetry(_Msg):
    at: Moment
    journal_pending: int
    journal_oldest_pending_s: float | None = None
    backlog_draining: bool = False
    screen: str = ""
    devices: dict[str, str] = Field(default_factory=dict)  # device -> "ok" or fault code
    faults: list[str] = Field(default_factory=list)
    uptime_s: float = 0.0
    last_update: UpdateReport | None = None  # absent: never updated (or an older kiosk)


class Command(_Msg):
    cmd: Literal["selftest", "maintenance_on", "maintenance_off", "reload_config", "update"]
    cmd_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
    # `update` only (and required there): the bundle `python -m kiosk_tools release` built,
    # where the kiosk fetches it, and the sha256 it printed.
    bundle_url: Annotated[str, StringConstraints(pattern=r"^(https?|file)://[^\s]{1,480}$")] | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None

    @model_validator(mode="after")
    def _update_fields(self) -> Command:
        given = (self.bundle_url is not None, self.sha256 is not None)
        if self.cmd == "update" and given != (True, True):
            raise ValueError("update needs bundle_url and sha256")
        if self.cmd != "update" and any(given):
            raise ValueError("bundle_url and sha256 belong to update only")
        return self


class CommandResult(_Msg):
    cmd_id: str
    ok: bool
    detail: dict[str, Any] = Field(default_factory=dict)


def _decode_json(raw: bytes) -> Any:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload too large ({len(raw)} bytes)")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not JSON UTF-8: {type(exc).__name__}") from None


def _summarise(exc: ValidationError) -> str:
    """Field paths and error kinds only: never echo the input (it may hold a card number)."""
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['type']}"
        + (f" ({e['msg']})" if e["type"] == TIMESTAMP_OUT_OF_RANGE else "")  # our words, no input
        for e in exc.errors()
    ]
    return "invalid payload: " + "; ".join(parts[:5])


def parse(model: type[BaseModel], raw: bytes) -> Any:
    """Parse and validate `raw` as `model`, or raise ProtocolError with a loggable reason."""
    data = _decode_json(raw)
    try:
        return model.model_validate(data, context=_FROM_WIRE)
    except ValidationError as exc:
        raise ProtocolError(_summarise(exc)) from None


@functools.cache
def _request_adapter() -> TypeAdapter:
    return TypeAdapter(Request)


def parse_request(raw: bytes) -> Any:
    """Parse any request by its `op`, or raise ProtocolError."""
    data = _decode_json(raw)
    try:
        return _request_adapter().validate_python(data, context=_FROM_WIRE)
    except ValidationError as exc:
        raise ProtocolError(_summarise(exc)) from None


def encode(msg: BaseModel) -> bytes:
    return msg.model_dump_json(exclude_none=True).encode("utf-8")
