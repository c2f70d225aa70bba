"""The core's state: frozen dataclasses and tuples, changed only with dataclasses.replace.

The view is derived from this state (render.py); nothing here is drawn directly.
`now` is the shell's monotonic time from the last Tick, `wall` its wall-clock time when
the shell gives one (for offline due dates).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from contract.messages import CardRef, HoldLine, LoanLine
from drivers.diagnostics import DiagResult
from drivers.events import TagRead
from firmware.view import Text

Purpose = Literal["lookup", "pin", "ecard", "checkout", "renew", "route"]
LineKind = Literal["loan", "renew", "return"]
# Internal line statuses; render maps "queued" to the view's "checking".
LineStatus = Literal[
    "queued", "checking", "loaned", "offline_loaned", "renewed", "returned", "refused"
]
DONE_STATUSES: frozenset[str] = frozenset({"loaned", "offline_loaned", "renewed", "returned"})


@dataclass(frozen=True)
class Reader:
    """The person at the kiosk. `verified` once the lookup (and PIN, when required)
    passed, or the offline policy admitted the card. `session_token` is what the hub
    gave at that moment for this reader's online loans and renewals; it dies with the
    Reader at the session's end. `loans` carry titles only once the PIN was right (or
    the scheme needs none). `loans_known` is false until an answer carried the loans
    (a lookup before the PIN, or any offline session, does not): the screen then shows
    no loan count rather than a made-up one. `borrow_refusal` is set when this card may
    only return here (the hub's reason, e.g. "scheme_not_accepted", or the alliance's
    scheme rules applied offline), with the words to show in `borrow_message`. `holds`
    and `due_soon` (barcodes of `loans`) are what the hub's greeting answer said of the
    reader's reserved books and loans falling due; () when it said nothing."""

    card: CardRef
    card_hash: str
    staff: bool = False
    masked_name: str | None = None
    loans: tuple[LoanLine, ...] = ()
    loans_known: bool = False
    borrow_refusal: str | None = None
    borrow_message: Text | None = None
    items_left: int | None = None
    pin_required: bool = False
    verified: bool = False
    offline: bool = False
    session_token: str | None = None
    holds: tuple[HoldLine, ...] = ()
    due_soon: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One book on the session's list (borrow, renew or return)."""

    n: int
    kind: LineKind
    barcode: str
    status: LineStatus
    title: str = ""
    due: datetime | None = None
    reason_code: str | None = None
    message: Text | None = None
    route: str | None = None
    route_library: str | None = None
    route_library_name: Text | None = None
    mode: str | None = None
    # The RFID tags that carry this book (a book laid on the pad or read in the chute):
    # each one's security is switched; () for a book that came as a barcode.
    tags: tuple[bytes, ...] = ()

    @property
    def name(self) -> str:
        """What names the book to a reader: its title once the hub told it, else its
        barcode (a book refused before anyone looked it up has no title)."""
        return self.title or self.barcode


@dataclass(frozen=True)
class Pending:
    """A request sent to the hub and not answered yet."""

    corr_id: str
    purpose: Purpose
    subject: str  # item barcode for checkout/renew/route; "" for lookup/pin
    line_n: int = 0


@dataclass(frozen=True)
class ChuteBook:
    """A book read at the chute: recorded once its route is known AND it passed the
    exit beam (it is inside the machine)."""

    line_n: int
    barcode: str
    passed: bool = False
    route_known: bool = False
    refused: bool = False
    route: str | None = None
    route_library: str | None = None
    route_library_name: Text | None = None
    title: str = ""
    mode: str = "online"
    reason_code: str | None = None
    message: Text | None = None
    tags: tuple[bytes, ...] = ()  # the book's RFID tags when the chute read tags


@dataclass(frozen=True)
class Service:
    """Device health, maintenance and journal state: what the technician sees."""

    faults: tuple[tuple[str, str], ...] = ()  # (device, code) currently failing
    fault_hints: tuple[tuple[str, str], ...] = ()  # (device, hint)
    recent_faults: tuple[str, ...] = ()  # "device:code", newest last
    selftest: tuple[DiagResult, ...] = ()
    selftest_running: bool = False
    journal_pending: int = 0
    journal_oldest_pending_s: float | None = None
    journal_failed: str | None = None
    maintenance: bool = False
    chute_jammed: bool = False
    voice_enabled: bool = True  # spoken prompts (the technician may switch them)
    voice_volume: int = 60  # 0-100

    def fault_of(self, device: str) -> str | None:
        return next((code for dev, code in self.faults if dev == device), None)


@dataclass(frozen=True)
class State:
    screen: str = "attract"  # the flow's screen; render may show out_of_service instead
    language: str = "zh"
    large_text: bool = False  # large, high-contrast text (the reader's switch)
    now: float = 0.0
    clock_started: bool = False  # the first Tick arrived
    wall: datetime | None = None
    # Two facts, two names: whether the MQTT link to the broker is up (LinkChanged), and
    # whether the hub itself answered the last request (false after a timeout even while
    # the broker link is up, e.g. the hub is restarting). The reader sees "online" only
    # when the hub answers.
    broker_link: Literal["unknown", "up", "down"] = "unknown"
    hub_answering: bool = False
    next_n: int = 1  # counter for correlation ids and line ids
    session: int = 0  # bumped at every card tap; groups a reader's transactions
    reader: Reader | None = None
    pending: tuple[Pending, ...] = ()
    lines: tuple[Line, ...] = ()
    chute: tuple[ChuteBook, ...] = ()
    offline_loans: int = 0
    notice: str | None = None
    notice_args: tuple[tuple[str, str], ...] = ()
    hub_message: Text | None = None
    notice_at: float = 0.0
    pin_attempts_left: int | None = None
    last_input_at: float = 0.0
    screen_since: float = 0.0
    help_return_to: str | None = None
    card_uid: bytes | None = None  # a card is in the reader's field
    card_left_since: float | None = None
    card_left_warned: bool = False
    receipt: tuple[str, ...] = ()
    # After an inactivity logout the notice stays in the reader's language; the kiosk's
    # default language comes back when that notice goes (clear_notice).
    language_after_notice: str | None = None
    blocked_hashes: frozenset[str] = frozenset()
    blocklist_salt: str | None = None
    blocklist_max_items: int | None = None
    # The RFID pad: every tag lying on it now (the last BooksPresented), and whether that
    # stack came while nobody could borrow yet (no reader, or the PIN still to come): it
    # is lent once the reader is greeted. The chute reader's field: the tags already
    # taken as read, so a tag seen again while another book arrives is not a new book.
    pad: tuple[TagRead, ...] = ()
    pad_waiting: bool = False
    pad_since: float = 0.0  # `now` when the waiting stack was laid down
    chute_tags: frozenset[bytes] = frozenset()
    service: Service = field(default_factory=Service)
    led: str = ""


def with_notice(
    state: State,
    key: str | None,
    args: tuple[tuple[str, str], ...] = (),
    hub_message: Text | None = None,
) -> State:
    return replace(
        state, notice=key, notice_args=args, hub_message=hub_message, notice_at=state.now
    )


def clear_notice(state: State) -> State:
    state = with_notice(state, None)
    if state.language_after_notice is not None:
        state = replace(state, language=state.language_after_notice, language_after_notice=None)
    return state


def go(state: State, screen: str) -> State:
    """Change screen (and remember when, for the summary timer)."""
    if screen == state.screen:
        return state
    return replace(state, screen=screen, screen_since=state.now)


def next_id(state: State) -> tuple[State, int]:
    return replace(state, next_n=state.next_n + 1), state.next_n


def line_by_n(state: State, n: int) -> Line | None:
    return next((line for line in state.lines if line.n == n), None)


def put_line(state: State, line: Line) -> State:
    """Replace the line with the same `n`, or append it."""
    if line_by_n(state, line.n) is None:
        return replace(state, lines=(*state.lines, line))
    return replace(state, lines=tuple(line if old.n == line.n else old for old in state.lines))


def drop_line(state: State, n: int) -> State:
    return replace(state, lines=tuple(line for line in state.lines if line.n != n))


def work_in_progress(state: State) -> bool:
    """Something the reader is waiting for: a request, a queued book, a book in the chute.
    Auto-logout and finishing wait for it."""
    return (
        any(p.purpose != "route" for p in state.pending)
        or any(line.status in ("queued", "checking") and line.kind != "return" for line in state.lines)
        or bool(state.chute)
    )
