"""What the core asks the shell to do. Plain frozen records; the shell runs them in order.

Ordering the shell relies on: effects come in the order they must run; a RecordTxn is
written (fsync'd) before the view of the same step is shown, and before any SetDiverter
or Beep that follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from contract.messages import (
    CardRef,
    CheckoutAuth,
    EcardLogin,
    PinCheck,
    ReaderLookup,
    RenewAuth,
    ReturnRoute,
)

HubRequest = ReaderLookup | PinCheck | EcardLogin | CheckoutAuth | RenewAuth | ReturnRoute


@dataclass(frozen=True)
class SendRequest:
    """Publish `request` on .../req with `corr_id` as correlation data; answer with
    HubAnswered(corr_id) or HubTimedOut(corr_id)."""

    corr_id: str
    request: HubRequest


@dataclass(frozen=True)
class RecordTxn:
    """Write a journal row (then publish it). The shell adds txn_id and `at`; on a failed
    write it posts JournalFailed instead of showing the view."""

    kind: Literal["loan", "return", "renew"]
    item: str
    card: CardRef | None
    due: datetime | None
    route: Literal["shelve", "transfer", "hold"] | None
    mode: Literal["online", "offline"]
    # online loans and renewals: the hub's session token for this reader at this kiosk
    session_token: str | None = None


@dataclass(frozen=True)
class SetDiverter:
    """Move the chute's flap so the book lands in the bin for its route."""

    route: Literal["shelve", "transfer", "hold"]


@dataclass(frozen=True)
class SecureItem:
    """Switch the book's security ON (a return): run before the SetDiverter that routes
    it, so no book leaves the chute for a shelf unarmed. `tag` is the UID of the book's
    RFID tag when the book came as a tag (the shell switches that tag's AFI/EAS), None
    for a barcode book (the shell asks the EM unit)."""

    item: str
    tag: bytes | None = None


@dataclass(frozen=True)
class UnsecureItem:
    """Switch the book's security OFF (a loan): only ever after the loan's RecordTxn,
    so a book never walks out unalarmed without a journalled loan. On failure the shell
    posts SecurityFailed(item, line_n, code); `title` names the book to the reader."""

    item: str
    line_n: int
    title: str = ""
    tag: bytes | None = None  # the book's RFID tag UID; None: a barcode book (EM unit)


@dataclass(frozen=True)
class Led:
    pattern: Literal["idle", "busy", "ok", "fault", "offline"]


@dataclass(frozen=True)
class Beep:
    pattern: Literal["ok", "error", "warn"]


@dataclass(frozen=True)
class RunSelfTest:
    """Run every device's diagnose(); answer with SelfTestDone(results, cmd_id)."""

    cmd_id: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """Publish on .../cmd/result (contract.messages.CommandResult)."""

    cmd_id: str
    ok: bool
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishState:
    """Publish the retained kiosk state (contract.messages.KioskState)."""

    state: Literal["online", "maintenance"]


@dataclass(frozen=True)
class PrintReceipt:
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Log:
    """A structured log line. Fields never hold a whole card number or a name."""

    level: Literal["debug", "info", "warning", "error"]
    event: str
    fields: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CallStaff:
    """Tell staff (telemetry / fleet view) that someone needs help at this kiosk."""

    reason: str


@dataclass(frozen=True)
class RepeatPrompt:
    """The reader asked to hear the last spoken prompt again (firmware.speaker)."""


@dataclass(frozen=True)
class SetVoice:
    """The technician switched spoken prompts on or off or changed their volume (0-100)."""

    enabled: bool
    volume: int


Effect = (
    SendRequest
    | RecordTxn
    | SetDiverter
    | SecureItem
    | UnsecureItem
    | Led
    | Beep
    | RunSelfTest
    | CommandResult
    | PublishState
    | PrintReceipt
    | Log
    | CallStaff
    | RepeatPrompt
    | SetVoice
)
