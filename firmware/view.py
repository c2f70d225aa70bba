"""What the screen shows, and what a touch means: the contract between core and UI.

The core renders its state into a `KioskView` (immutable, plain data); the Kivy UI
draws it and turns touches into `Press` / `PinEntered` intents (`contract.screens`). No business logic on
the UI side: every word on screen is either a message-catalogue key (`notice`,
`ItemLine.status`, ...) or a bilingual `Text` that came from the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Text:
    """A message in both languages, as the hub sends refusal reasons and titles."""

    zh: str
    en: str

    def in_language(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class ItemLine:
    """One book on the borrow, renew or return list."""

    barcode: str
    title: str
    status: str  # "checking" | "loaned" | "refused" | "renewed" | "returned" | "offline_loaned"
    due: str | None = None  # ISO date
    reason_code: str | None = None
    message: Text | None = None
    route: str | None = None  # "shelve" | "transfer" | "hold"
    route_library: str | None = None  # member id, e.g. "xicheng"
    route_library_name: Text | None = None
    kind: str = "loan"  # "loan" | "renew" | "return": what was asked for this book


@dataclass(frozen=True)
class HoldNote:
    """A book reserved for the reader, named at the greeting (issue 19): `ready` on the
    hold shelf of `library_id` (`here`: this kiosk's library, so scanning it lends it),
    or `in_transit` on its way there. `library_name` is the hub's, in both languages."""

    barcode: str
    title: str
    status: str  # "ready" | "in_transit"
    library_id: str
    library_name: Text | None = None
    here: bool = False


@dataclass(frozen=True)
class DueNote:
    """A loan due within three days (the hub's reckoning), named at the greeting."""

    barcode: str
    title: str
    due: str  # ISO date


@dataclass(frozen=True)
class DeviceLine:
    """Technician view of one device."""

    device: str
    ok: bool
    code: str
    hint: str
    detail: str = ""  # live values: "entry=clear exit=clear", "port=/dev/ttyUSB0"


@dataclass(frozen=True)
class TechnicianView:
    devices: tuple[DeviceLine, ...] = ()
    journal_pending: int = 0
    journal_oldest_pending_s: float | None = None
    hub_link: str = "offline"  # "online" | "offline" | "connecting"
    recent_faults: tuple[str, ...] = ()
    maintenance: bool = False
    selftest_running: bool = False


@dataclass(frozen=True)
class KioskView:
    screen: str = "attract"
    language: str = "zh"
    online: bool = False
    busy: bool = False  # a request is in flight: input is held
    reader_name: str | None = None  # already masked by the hub, e.g. "王*明"
    reader_loans: int | None = None  # None: not known (offline, or not told): no count shown
    items_left: int | None = None  # None: no quota shown (not known, or may not borrow here)
    # False: this card may only return here (e.g. a university public card at the
    # Capital Library); `borrow_message` says why, in both languages.
    may_borrow: bool = True
    borrow_message: Text | None = None
    session_offline: bool = False  # the reader was admitted while the hub was unreachable
    items: tuple[ItemLine, ...] = ()
    pin_length: int = 0  # digits typed so far (never the digits)
    pin_attempts_left: int | None = None
    notice: str | None = None  # message-catalogue key, e.g. "notice.one_card_at_a_time"
    notice_args: tuple[tuple[str, str], ...] = ()
    hub_message: Text | None = None  # refusal reason from the hub, both languages
    countdown_s: int | None = None  # inactivity warning countdown
    out_of_service_code: str | None = None  # fault code shown to technicians (never "maintenance": its own screen)
    receipt_lines: tuple[str, ...] = ()
    library_id: str = ""
    kiosk_id: str = ""
    technician: TechnicianView | None = None
    extras: dict[str, str] = field(default_factory=dict)
    # the greeting's holds and loans due soon (borrow screen; () when the hub told none)
    holds: tuple[HoldNote, ...] = ()
    due_soon: tuple[DueNote, ...] = ()
