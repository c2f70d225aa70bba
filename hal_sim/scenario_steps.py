"""The steps of a scenario script (docs/scenarios.md), as the parser
(hal_sim.scenario) makes them and the players (hal_sim.device_steps,
kiosk_tools.script_runner, kiosk_tools.control) take them: frozen records, each
knowing its `.line` and its `verb`; and the one error a script mistake or an unplayable
step raises, named by its line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


class ScenarioError(ValueError):
    """A script mistake or a step that could not be played, named by its line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class UnhandledStep(ScenarioError):
    """A step the device runner does not play and no handler was given for."""


@dataclass(frozen=True)
class Step:
    line: int
    verb: ClassVar[str] = ""


@dataclass(frozen=True)
class Tap(Step):
    card: str
    uid: bytes | None = None
    verb: ClassVar[str] = "tap"


@dataclass(frozen=True)
class Remove(Step):
    verb: ClassVar[str] = "remove"


@dataclass(frozen=True)
class Pin(Step):
    digits: str
    verb: ClassVar[str] = "pin"


@dataclass(frozen=True)
class Scan(Step):
    barcode: str
    verb: ClassVar[str] = "scan"


@dataclass(frozen=True)
class Ecard(Step):
    """A phone e-card shown to the desk scanner (issue 19): the runner asks the hub for a
    fresh token for `card` at this kiosk (`fresh`), one that expired already (`expired`),
    or shows the last one again (`again`: a replay), and scans it."""

    card: str
    kind: Literal["fresh", "expired", "again"] = "fresh"
    verb: ClassVar[str] = "ecard"


@dataclass(frozen=True)
class TagSpec:
    """One RFID-tagged book as a script names it: `BARCODE[:N/M][:unreadable][:write-fails]`.
    `part`/`of`: the book is part N of a set of M ("disc 2 of 3"), both or neither.
    `unreadable`: the tag is found but its memory never reads; `write_fails`: its
    writes (the security switch) fail. `key` names the tag in the runner's registry: a set's parts share a barcode."""

    barcode: str
    part: int | None = None
    of: int | None = None
    unreadable: bool = False
    write_fails: bool = False

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.barcode, self.part)

    @property
    def name(self) -> str:
        """The book as the script names it, without its faults: `3010` or `3010:1/3`."""
        return self.barcode if self.part is None else f"{self.barcode}:{self.part}/{self.of}"

    @property
    def text(self) -> str:
        """Back as script text, the parser's input."""
        faults = [f for f, on in (("unreadable", self.unreadable), ("write-fails", self.write_fails)) if on]
        return ":".join([self.name, *faults])


@dataclass(frozen=True)
class Drop(Step):
    """A book into the return chute: read by the chute's scanner (`barcode`), or by its
    RFID reader when `tag` is given (`drop BARCODE:tag`)."""

    barcode: str
    tag: TagSpec | None = None
    verb: ClassVar[str] = "drop"


@dataclass(frozen=True)
class Place(Step):
    """RFID-tagged books laid on the lending pad together, as one stack."""

    tags: tuple[TagSpec, ...]
    verb: ClassVar[str] = "place"


@dataclass(frozen=True)
class Lift(Step):
    """Books taken off the pad: those named, or (none named) the whole stack."""

    tags: tuple[TagSpec, ...] = ()
    verb: ClassVar[str] = "lift"


@dataclass(frozen=True)
class Jam(Step):
    beam: Literal["entry", "exit"] = "entry"
    verb: ClassVar[str] = "jam"


@dataclass(frozen=True)
class Clear(Step):
    verb: ClassVar[str] = "clear"


@dataclass(frozen=True)
class Press(Step):
    action: str
    verb: ClassVar[str] = "press"


@dataclass(frozen=True)
class Wait(Step):
    seconds: float
    verb: ClassVar[str] = "wait"


@dataclass(frozen=True)
class HubDown(Step):
    verb: ClassVar[str] = "hub down"


@dataclass(frozen=True)
class HubUp(Step):
    verb: ClassVar[str] = "hub up"


@dataclass(frozen=True)
class PowerCut(Step):
    verb: ClassVar[str] = "power cut"


@dataclass(frozen=True)
class ExpectScreen(Step):
    screen: str
    verb: ClassVar[str] = "expect screen"


@dataclass(frozen=True)
class ExpectLoan(Step):
    barcode: str
    verb: ClassVar[str] = "expect loan"


@dataclass(frozen=True)
class ExpectRenewed(Step):
    barcode: str
    verb: ClassVar[str] = "expect renewed"


@dataclass(frozen=True)
class ExpectAttempts(Step):
    """The PIN screen shows this many attempts left."""

    count: int
    verb: ClassVar[str] = "expect attempts"


@dataclass(frozen=True)
class ExpectRefused(Step):
    barcode: str
    reason: str | None = None
    verb: ClassVar[str] = "expect refused"


@dataclass(frozen=True)
class ExpectReturn(Step):
    barcode: str
    verb: ClassVar[str] = "expect return"


@dataclass(frozen=True)
class ExpectRoute(Step):
    barcode: str
    route: str
    library: str | None = None
    verb: ClassVar[str] = "expect route"


@dataclass(frozen=True)
class ExpectTitle(Step):
    """The book's line shows a title containing `text` (one word of it, no spaces)."""

    barcode: str
    text: str
    verb: ClassVar[str] = "expect title"


@dataclass(frozen=True)
class ExpectDue(Step):
    """The book's line shows this due date (YYYY-MM-DD, the alliance's local day)."""

    barcode: str
    due: str
    verb: ClassVar[str] = "expect due"


@dataclass(frozen=True)
class ExpectMessage(Step):
    """The book's line carries a message containing `text` (one word, either language,
    case-insensitive): why it was refused, or that security stayed on."""

    barcode: str
    text: str
    verb: ClassVar[str] = "expect message"


@dataclass(frozen=True)
class ExpectSecured(Step):
    """The book's RFID tag is secured (`on`: the gate alarms) or not; a set without a
    part named: every part placed or dropped in this run."""

    barcode: str
    part: int | None
    on: bool
    verb: ClassVar[str] = "expect secured"


@dataclass(frozen=True)
class ExpectHold(Step):
    """The greeting names the book as held for the reader: `ready` on a hold shelf or
    `in_transit`, at the pickup library `library` when given (the current view)."""

    barcode: str
    status: str
    library: str | None = None
    verb: ClassVar[str] = "expect hold"


@dataclass(frozen=True)
class ExpectOffline(Step):
    verb: ClassVar[str] = "expect offline"


@dataclass(frozen=True)
class ExpectOnline(Step):
    verb: ClassVar[str] = "expect online"


@dataclass(frozen=True)
class ExpectPending(Step):
    """The offline banner counts `count` txns waiting to be sent (the view's `offline_pending`)."""

    count: int
    verb: ClassVar[str] = "expect pending"


@dataclass(frozen=True)
class ExpectCommitted(Step):
    barcode: str
    verb: ClassVar[str] = "expect committed"


DEVICE_STEPS = (Tap, Remove, Scan, Drop, Jam, Clear, Wait, Place, Lift)
EXPECT_STEPS = (
    ExpectScreen,
    ExpectLoan,
    ExpectRenewed,
    ExpectAttempts,
    ExpectRefused,
    ExpectReturn,
    ExpectRoute,
    ExpectTitle,
    ExpectDue,
    ExpectMessage,
    ExpectSecured,
    ExpectHold,
    ExpectOffline,
    ExpectOnline,
    ExpectPending,
    ExpectCommitted,
)
