"""Events the core consumes besides device events (drivers.events) and UI intents
(contract.screens.Press / PinEntered): answers from the hub link, timers, the journal.

The shell, the hub link and the UI all post into one queue; the core takes them one at
a time. Times are monotonic seconds (`now`) so the core never reads a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contract.messages import Ack, Response
from drivers.diagnostics import DiagResult


@dataclass(frozen=True)
class Tick:
    """The shell's heartbeat (every ~0.25 s): moves the core's clock, which ends the
    summary, logs an idle reader out, warns of a card left behind and fades notices
    (firmware.core.timers). It does not time requests: the hub link does, and ends each
    one with HubAnswered or HubTimedOut.

    `wall` (optional, timezone-aware) is the wall-clock time, used only for the due
    date of offline loans; without it an offline loan's due date is left to the hub.
    """

    now: float
    wall: datetime | None = None


@dataclass(frozen=True)
class HubAnswered:
    """The answer to the request the core sent with this correlation id."""

    corr_id: str
    response: Response


@dataclass(frozen=True)
class HubTimedOut:
    """No answer within the hub link's request timeout (at once when the link is down):
    go offline for it."""

    corr_id: str


@dataclass(frozen=True)
class LinkChanged:
    online: bool


@dataclass(frozen=True)
class TxnAcked:
    """The hub committed (or rejected) a journal row; the journal is already updated."""

    txn_id: str
    ack: Ack


@dataclass(frozen=True)
class JournalFailed:
    """The journal cannot write (disk full) or is corrupt: out of service, lose nothing."""

    code: str  # "journal-disk-full" | "journal-corrupt" | "journal-io"
    detail: str
    failed_kind: str | None = None  # the row that could not be written, if one was:
    failed_item: str | None = None  # its line must not stay shown as done


@dataclass(frozen=True)
class CommandReceived:
    """A hub command (selftest, maintenance_on/off, reload_config)."""

    cmd: str
    cmd_id: str


@dataclass(frozen=True)
class SelfTestDone:
    results: tuple[DiagResult, ...]
    cmd_id: str | None = None


@dataclass(frozen=True)
class BlocklistUpdated:
    """The hub's blocklist (card hashes) cached for offline decisions. `salt` is the key
    the hub hashed them with (`contract.privacy.blocklist_hash`); None from a hub that
    sends plain `card_hash`es."""

    blocked_hashes: frozenset[str]
    offline_max_items: int | None = None
    salt: str | None = None


@dataclass(frozen=True)
class JournalDepth:
    """How many rows wait for the hub's ack (technician screen, telemetry)."""

    pending: int
    oldest_pending_s: float | None = None


@dataclass(frozen=True)
class SecurityFailed:
    """The shell could not switch a book's security (drivers.em_security fault `code`).
    `on` is the switch asked for: False = unsecure after a loan (the reader must be
    told), True = secure at a return (staff must re-arm it)."""

    item: str
    code: str
    on: bool
    line_n: int = 0
    title: str = ""
