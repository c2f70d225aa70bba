"""The SIP2 messages the hub sends and the answers it reads, as frozen dataclasses.

Requests know their own frame (`to_frame()` -> id, fixed part, fields); answers are
read from a decoded `Frame` by one `read_*` function each, which raises
`Sip2ProtocolError` naming the message and the field when the answer does not fit.

Requests are written the way the strictest peer we met (pysip2) accepts them, which is
also what the 3M specification asks for:
- AC (terminal password) is always sent, empty when the system has none; 23 also always
  carries AD (empty without a PIN);
- nb_due_date of 11 and 29 is a real 18-character date: pysip2 closes the connection on
  the blank one many clients send. With no_block and no explicit due date, 11 sends the
  due date of an offline loan (`offline_due_date`: the end of the local day
  OFFLINE_LOAN_DAYS after the loan, what the kiosk promised offline); without no_block
  it sends the transaction date, which the ACS ignores;
- dates are local time with a blank zone (`dates.format_sip_date`);
- 63 asks for the charged items (summary position 3) so `PatronInfo.charged_items` is
  filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from contract.settings import OFFLINE_LOAN_DAYS
from hub.sip2.codec import Frame
from hub.sip2.dates import format_sip_date, parse_due
from hub.sip2.errors import Sip2ProtocolError

PROTOCOL_VERSION = "2.00"
LANGUAGE_UNKNOWN = "000"
CHARGED_ITEMS_SUMMARY = "  Y       "

# The BX flags of an ACS status answer, in the order of the specification.
SUPPORTED_MESSAGE_NAMES = (
    "patron_status",
    "checkout",
    "checkin",
    "block_patron",
    "sc_status",
    "request_resend",
    "login",
    "patron_information",
    "end_patron_session",
    "fee_paid",
    "item_information",
    "item_status_update",
    "patron_enable",
    "hold",
    "renew",
    "renew_all",
)

# Circulation status of an item information answer (18), as the specification names them.
CIRCULATION_STATUSES = {
    "01": "other",
    "02": "on order",
    "03": "available",
    "04": "charged",
    "05": "charged; not to be recalled until earliest recall date",
    "06": "in process",
    "07": "recalled",
    "08": "waiting on hold shelf",
    "09": "waiting to be re-shelved",
    "10": "in transit between library locations",
    "11": "claimed returned",
    "12": "lost",
    "13": "missing",
}

# Which answer each request expects.
ANSWER_TO = {"93": "94", "99": "98", "23": "24", "63": "64", "17": "18", "11": "12",
             "09": "10", "29": "30", "35": "36"}
MESSAGE_NAMES = {"93": "login", "99": "SC status", "23": "patron status",
                 "63": "patron information", "17": "item information", "11": "checkout",
                 "09": "checkin", "29": "renew", "35": "end patron session"}

FrameParts = tuple[str, str, list[tuple[str, str | None]]]


def offline_due_date(lent_at: datetime, local_tz: tzinfo) -> datetime:
    """The due date of a loan made offline at `lent_at`: the end of the local day
    OFFLINE_LOAN_DAYS later (contract.settings), the date the kiosk showed the reader."""
    local = lent_at.astimezone(local_tz) if lent_at.tzinfo else lent_at.replace(tzinfo=local_tz)
    return (local + timedelta(days=OFFLINE_LOAN_DAYS)).replace(hour=23, minute=59, second=59,
                                                               microsecond=0)


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


# ---- requests ----


@dataclass(frozen=True)
class LoginRequest:
    """93: log the SC in (CN user, CO password, CP location); plain-text algorithms."""

    user: str
    password: str
    location: str

    def to_frame(self) -> FrameParts:
        return "93", "00", [("CN", self.user), ("CO", self.password), ("CP", self.location)]


@dataclass(frozen=True)
class ScStatusRequest:
    """99: our status (0 = OK), print width, protocol version; the answer is 98."""

    status_code: int = 0
    max_print_width: int = 80

    def to_frame(self) -> FrameParts:
        return "99", f"{self.status_code}{self.max_print_width:03d}{PROTOCOL_VERSION}", []


@dataclass(frozen=True)
class PatronStatusRequest:
    """23: is this a valid patron (and PIN)? AC and AD always present."""

    institution: str
    patron_id: str
    pin: str | None
    at: datetime
    local_tz: tzinfo
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        fixed = LANGUAGE_UNKNOWN + format_sip_date(self.at, self.local_tz)
        return "23", fixed, [("AO", self.institution), ("AA", self.patron_id),
                             ("AC", self.terminal_password), ("AD", self.pin or "")]


@dataclass(frozen=True)
class PatronInformationRequest:
    """63: the patron with the charged items; AD only with a PIN (CQ then judges it)."""

    institution: str
    patron_id: str
    pin: str | None
    at: datetime
    local_tz: tzinfo
    terminal_password: str = ""
    summary: str = CHARGED_ITEMS_SUMMARY

    def to_frame(self) -> FrameParts:
        fixed = LANGUAGE_UNKNOWN + format_sip_date(self.at, self.local_tz) + self.summary
        return "63", fixed, [("AO", self.institution), ("AA", self.patron_id),
                             ("AC", self.terminal_password), ("AD", self.pin)]


@dataclass(frozen=True)
class ItemInformationRequest:
    """17: what the ILS knows of an item."""

    institution: str
    item_id: str
    at: datetime
    local_tz: tzinfo
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        return "17", format_sip_date(self.at, self.local_tz), [
            ("AO", self.institution), ("AB", self.item_id), ("AC", self.terminal_password)]


@dataclass(frozen=True)
class CheckoutRequest:
    """11: lend `item_id` to `patron_id`. `at` is when the loan happened (an offline loan
    replayed later keeps its time); `nb_due_date` is the due date promised offline."""

    institution: str
    patron_id: str
    item_id: str
    at: datetime
    local_tz: tzinfo
    pin: str | None = None
    no_block: bool = False
    nb_due_date: datetime | None = None
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        when = format_sip_date(self.at, self.local_tz)
        if self.nb_due_date is not None:
            nb_due = format_sip_date(self.nb_due_date, self.local_tz)
        elif self.no_block:
            nb_due = format_sip_date(offline_due_date(self.at, self.local_tz), self.local_tz)
        else:
            nb_due = when  # ignored by the ACS without no_block; blank is refused by some
        fixed = "N" + _yn(self.no_block) + when + nb_due
        return "11", fixed, [("AO", self.institution), ("AA", self.patron_id),
                             ("AB", self.item_id), ("AC", self.terminal_password),
                             ("AD", self.pin)]


@dataclass(frozen=True)
class CheckinRequest:
    """09: the item came back at `current_location` (AP) at `returned_at`; sent `now`."""

    institution: str
    item_id: str
    returned_at: datetime
    now: datetime
    current_location: str
    local_tz: tzinfo
    no_block: bool = False
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        fixed = (_yn(self.no_block) + format_sip_date(self.now, self.local_tz)
                 + format_sip_date(self.returned_at, self.local_tz))
        return "09", fixed, [("AP", self.current_location), ("AO", self.institution),
                             ("AB", self.item_id), ("AC", self.terminal_password)]


@dataclass(frozen=True)
class RenewRequest:
    """29: renew one item for the patron (no third party, no no-block)."""

    institution: str
    patron_id: str
    item_id: str
    at: datetime
    local_tz: tzinfo
    pin: str | None = None
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        when = format_sip_date(self.at, self.local_tz)
        return "29", "NN" + when + when, [("AO", self.institution), ("AA", self.patron_id),
                                          ("AD", self.pin), ("AB", self.item_id),
                                          ("AC", self.terminal_password)]


@dataclass(frozen=True)
class EndSessionRequest:
    """35: the patron's session at the SC is over."""

    institution: str
    patron_id: str
    at: datetime
    local_tz: tzinfo
    terminal_password: str = ""

    def to_frame(self) -> FrameParts:
        return "35", format_sip_date(self.at, self.local_tz), [
            ("AO", self.institution), ("AA", self.patron_id), ("AC", self.terminal_password)]


# ---- answers ----


@dataclass(frozen=True)
class PatronInfo:
    """24 or 64. `valid_pin` is None when the ACS did not judge a PIN (no CQ).
    `blocked` is the ILS's "charge privileges denied" (position 1 of the patron status);
    the other 13 flags are in `raw_status`."""

    valid_patron: bool
    valid_pin: bool | None
    name: str | None
    blocked: bool
    charged_items: tuple[str, ...]
    screen_message: str | None
    raw_status: str
    patron_id: str = ""


@dataclass(frozen=True)
class ItemInfo:
    """18. `circulation_status` is the two-digit code (`CIRCULATION_STATUSES` names it);
    `due_text` is AH as sent, `due_date` only when we could read it."""

    item_id: str
    title: str | None
    circulation_status: str
    due_date: datetime | None
    due_text: str | None
    permanent_location: str | None
    current_location: str | None
    screen_message: str | None

    @property
    def circulation_name(self) -> str:
        return CIRCULATION_STATUSES.get(self.circulation_status, "unknown")


@dataclass(frozen=True)
class LoanResult:
    """12 (checkout) and 30 (renew): the same answer to the same kind of question, a
    loan with its due date. `patron_id` (AA) is required in a 12; a 30 may omit it."""

    ok: bool
    renewal_ok: bool
    patron_id: str | None
    item_id: str
    title: str | None
    due_date: datetime | None
    due_text: str | None
    screen_message: str | None


CheckoutResult = LoanResult  # 12
RenewResult = LoanResult  # 30


@dataclass(frozen=True)
class CheckinResult:
    """10. `destination` (CT) and `alert_type` (CV) are 3M extensions; absent from
    pysip2 and many ILSs, so None is common."""

    ok: bool
    alert: bool
    item_id: str
    title: str | None
    permanent_location: str | None
    destination: str | None
    alert_type: str | None
    screen_message: str | None
    sort_bin: str | None = None


@dataclass(frozen=True)
class ScStatus:
    """98. `timeout_s` and `retries` are None when the ACS says 999 (unknown);
    `supported` names the messages the BX flags mark Y."""

    online: bool
    checkin_ok: bool
    checkout_ok: bool
    renewal_ok: bool
    timeout_s: int | None
    retries: int | None
    protocol_version: str
    institution: str | None
    library_name: str | None
    supported: tuple[str, ...]
    screen_message: str | None
    offline_ok: bool = False
    status_update_ok: bool = False
    terminal_location: str | None = None
    supported_raw: str = field(default="")


def _screen(frame: Frame) -> str | None:
    parts = [p for p in frame.get_all("AF") if p]
    return "\n".join(parts) if parts else None


def _required(frame: Frame, field_id: str) -> str:
    value = frame.get(field_id)
    if value is None:
        raise Sip2ProtocolError(f"answer {frame.message_id} lacks the required field {field_id}")
    return value


def _flag(frame: Frame, pos: int, name: str, yes: str, no: str) -> bool:
    c = frame.fixed[pos]
    if c not in (yes, no) and not (yes == "Y" and c == "U"):
        raise Sip2ProtocolError(
            f"answer {frame.message_id}: {name} must be {yes} or {no}, got {c!r}")
    return c == yes


def _none_if_empty(value: str | None) -> str | None:
    return value if value else None


def read_login(frame: Frame) -> bool:
    return _flag(frame, 0, "ok", "1", "0")


def read_patron(frame: Frame) -> PatronInfo:
    """24 or 64: the patron status flags are the first 14 characters of both."""
    status = frame.fixed[:14]
    bl = frame.get("BL")
    name = _none_if_empty(frame.get("AE"))
    cq = frame.get("CQ")
    return PatronInfo(
        # Without BL an ACS that names the patron knows them (some ILSs leave BL out).
        valid_patron=bl == "Y" if bl is not None else name is not None,
        valid_pin=None if not cq else cq == "Y",
        name=name,
        blocked=status[:1] == "Y",
        charged_items=frame.get_all("AU"),
        screen_message=_screen(frame),
        raw_status=status,
        patron_id=frame.get("AA") or "",
    )


def read_item(frame: Frame, local_tz: tzinfo) -> ItemInfo:
    status = frame.fixed[:2]
    if not status.isdigit():
        raise Sip2ProtocolError(f"answer 18: circulation status {status!r} is not two digits")
    due = _none_if_empty(frame.get("AH"))
    return ItemInfo(
        item_id=_required(frame, "AB"),
        title=_none_if_empty(frame.get("AJ")),
        circulation_status=status,
        due_date=parse_due(due, local_tz),
        due_text=due,
        permanent_location=_none_if_empty(frame.get("AQ")),
        current_location=_none_if_empty(frame.get("AP")),
        screen_message=_screen(frame),
    )


def read_checkout(frame: Frame, local_tz: tzinfo) -> LoanResult:
    return _read_loan(frame, local_tz, patron_required=True)


def read_checkin(frame: Frame) -> CheckinResult:
    return CheckinResult(
        ok=_flag(frame, 0, "ok", "1", "0"),
        alert=_flag(frame, 3, "alert", "Y", "N"),
        item_id=_required(frame, "AB"),
        title=_none_if_empty(frame.get("AJ")),
        permanent_location=_none_if_empty(frame.get("AQ")),
        destination=_none_if_empty(frame.get("CT")),
        alert_type=_none_if_empty(frame.get("CV")),
        screen_message=_screen(frame),
        sort_bin=_none_if_empty(frame.get("CL")),
    )


def read_renew(frame: Frame, local_tz: tzinfo) -> LoanResult:
    return _read_loan(frame, local_tz, patron_required=False)


def _read_loan(frame: Frame, local_tz: tzinfo, patron_required: bool) -> LoanResult:
    """A 12 or a 30: ok, renewal ok, the patron (required in a 12), item, title, due date."""
    due = _none_if_empty(frame.get("AH"))
    return LoanResult(
        ok=_flag(frame, 0, "ok", "1", "0"),
        renewal_ok=_flag(frame, 1, "renewal ok", "Y", "N"),
        patron_id=_required(frame, "AA") if patron_required else _none_if_empty(frame.get("AA")),
        item_id=_required(frame, "AB"),
        title=_none_if_empty(frame.get("AJ")),
        due_date=parse_due(due, local_tz),
        due_text=due,
        screen_message=_screen(frame),
    )


def read_end_session(frame: Frame) -> bool:
    return _flag(frame, 0, "end session", "Y", "N")


def _count(text: str) -> int | None:
    if not text.isdigit():
        raise Sip2ProtocolError(f"answer 98: {text!r} is not a 3-digit number")
    return None if text == "999" else int(text)


def read_sc_status(frame: Frame) -> ScStatus:
    f = frame.fixed
    timeout_tenths = _count(f[6:9])
    bx = frame.get("BX") or ""
    return ScStatus(
        online=_flag(frame, 0, "online status", "Y", "N"),
        checkin_ok=_flag(frame, 1, "checkin ok", "Y", "N"),
        checkout_ok=_flag(frame, 2, "checkout ok", "Y", "N"),
        renewal_ok=_flag(frame, 3, "ACS renewal policy", "Y", "N"),
        status_update_ok=_flag(frame, 4, "status update ok", "Y", "N"),
        offline_ok=_flag(frame, 5, "offline ok", "Y", "N"),
        # The specification gives the timeout in tenths of a second.
        timeout_s=None if timeout_tenths is None else -(-timeout_tenths // 10),
        retries=_count(f[9:12]),
        protocol_version=f[30:34],
        institution=_none_if_empty(frame.get("AO")),
        library_name=_none_if_empty(frame.get("AM")),
        supported=tuple(n for n, c in zip(SUPPORTED_MESSAGE_NAMES, bx, strict=False) if c == "Y"),
        screen_message=_screen(frame),
        terminal_location=_none_if_empty(frame.get("AN")),
        supported_raw=bx,
    )
