"""Plays a scenario's device steps (tap, remove, scan, drop, jam, clear, wait, place,
lift) against the simulator's handles; every other step is handed to the caller (the
kiosk's control channel) or refused with its line number. It keeps the RFID tags a
script made, by book, so `lift`, a tagged `drop` and `expect secured` find them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Literal, Protocol, TypeVar

from hal_sim.scenario_steps import (
    Clear,
    Drop,
    Jam,
    Lift,
    Place,
    Remove,
    Scan,
    ScenarioError,
    Step,
    TagSpec,
    Tap,
    UnhandledStep,
    Wait,
)


class CardField(Protocol):
    def present(self, card: object) -> object: ...
    def remove(self, card: object) -> object: ...


class ScannerHandle(Protocol):
    def scan(self, barcode: str) -> object: ...


class ChuteHandle(Protocol):
    @property
    def jammed(self) -> bool: ...
    def drop(self) -> object: ...
    def jam(self, beam: Literal["entry", "exit"] = "entry") -> object: ...
    def clear(self) -> object: ...


class RfidPad(Protocol):
    """The lending pad's handle (the rig's `place`/`lift`/`tag_secured`): tags laid on it
    in one call arrive as one stack; `lift()` with no tags takes them all."""

    def place(self, *tags: object) -> object: ...
    def lift(self, *tags: object) -> object: ...
    def tag_secured(self, tag: object) -> bool: ...


class TagChute(Protocol):
    """The return chute with an RFID reader: a tagged book falls through it."""

    def drop_tag(self, tag: object) -> object: ...


_Handle = TypeVar("_Handle")
LibraryCardFactory = Callable[[str, bytes | None], object]
# (the book as the script names it, lent already?) -> a tag: in stock (secured) for the
# pad, on loan (unsecured) for a book first seen coming back through the chute.
LibraryTagFactory = Callable[[TagSpec, bool], object]
TagKey = tuple[str, int | None]


class DeviceStepRunner:
    """Plays device steps against simulator handles.

    - `tap`/`remove`: `library_card(number, uid)` makes a virtual card and
      `card_field.present(card)` / `.remove(card)` moves it (e.g. the emulated
      MFRC522's field). `remove` takes away every card present.
    - `scan`: the desk scanner reads the barcode (`desk_scanner.scan`).
    - `drop`: the chute's in-line scanner reads the barcode, then the book falls
      through the beams (`chute_scanner.scan`, then `chute.drop()`). On a jammed
      chute (`chute.jammed`) the step is refused with its line number and nothing
      happens: the slot is blocked, the jam stays.
    - `jam`/`clear`: `chute.jam(beam)` / `chute.clear()`.
    - `wait`: sleeps (`sleep` is injectable).
    - `place`: every book named is laid on the pad in one `pad.place(*tags)` (one
      stack). A book seen before in the run is its same tag (lent, lifted and laid
      again: its security as the kiosk left it); a new one is made by
      `library_tag(spec, False)`, in stock. A book already on the pad is an error.
    - `lift`: `pad.lift(*tags)` for the books named, `pad.lift()` for all; a book not
      on the pad, or an empty pad, is an error.
    - `drop BARCODE:tag`: `tag_chute.drop_tag(tag)`, the book's own tag if it was seen
      before, else `library_tag(spec, True)` (a book lent elsewhere); one still on the
      pad must be lifted first. The jammed-chute rule is as for `drop`.
    `secured(barcode, part)` answers `expect secured` from the same tags
    (`pad.tag_secured`).
    A `tap` of a card already in the field is the reader lifting it and tapping
    again: it is removed, `card_lifted()` (when given) waits until the reader has
    seen it go, and it is laid back, so the kiosk sees a new tap instead of nothing.
    Everything else goes to `other(step)`; without it, `UnhandledStep`. A scanner
    handle with `wait_opened` (the pty simulator) is waited for once before its
    first scan, since a scan written before the driver opened the port is lost.
    """

    def __init__(
        self,
        *,
        card_field: CardField | None = None,
        library_card: LibraryCardFactory | None = None,
        desk_scanner: ScannerHandle | None = None,
        chute_scanner: ScannerHandle | None = None,
        chute: ChuteHandle | None = None,
        pad: RfidPad | None = None,
        tag_chute: TagChute | None = None,
        library_tag: LibraryTagFactory | None = None,
        other: Callable[[Step], object] | None = None,
        card_lifted: Callable[[], object] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        scanner_open_timeout_s: float = 5.0,
    ) -> None:
        self.card_field = card_field
        self.library_card = library_card
        self.desk_scanner = desk_scanner
        self.chute_scanner = chute_scanner
        self.chute = chute
        self.other = other
        self.card_lifted = card_lifted
        self.sleep = sleep
        self.scanner_open_timeout_s = scanner_open_timeout_s
        self.cards_present: list[object] = []
        self.pad = pad
        self.tag_chute = tag_chute
        self.library_tag = library_tag
        self.tags: dict[TagKey, tuple[TagSpec, object]] = {}  # every tag made, by book
        self.on_pad: list[TagKey] = []  # in the order laid

    def run(self, steps: Iterable[Step]) -> None:
        for step in steps:
            self.run_step(step)

    def run_step(self, step: Step) -> None:
        match step:
            case Tap(card=number, uid=uid):
                field, make_card = (
                    self._need(step, self.card_field),
                    self._need(step, self.library_card),
                )
                card = make_card(number, uid)
                again = [c for c in self.cards_present if getattr(c, "uid", None) == getattr(card, "uid", object())]
                if again:  # the same card tapped again: lifted off first, then laid back
                    for old in again:
                        field.remove(old)
                        self.cards_present.remove(old)
                    if self.card_lifted is not None:
                        self.card_lifted()
                field.present(card)
                self.cards_present.append(card)
            case Remove():
                field = self._need(step, self.card_field)
                if not self.cards_present:
                    raise ScenarioError(step.line, "'remove' but no card is in the field")
                while self.cards_present:
                    field.remove(self.cards_present.pop())
            case Scan(barcode=barcode):
                self._scan(step, self.desk_scanner, barcode)
            case Drop(barcode=barcode, tag=None):
                chute = self._need(step, self.chute)
                self._not_jammed(step, chute, barcode)
                self._scan(step, self.chute_scanner, barcode)
                chute.drop()
            case Drop(tag=TagSpec() as spec):
                self._drop_tag(step, spec)
            case Place(tags=specs):
                self._place(step, specs)
            case Lift(tags=specs):
                self._lift(step, specs)
            case Jam(beam=beam):
                self._need(step, self.chute).jam(beam)
            case Clear():
                self._need(step, self.chute).clear()
            case Wait(seconds=seconds):
                self.sleep(seconds)
            case _:
                self.handle_other(step)

    def secured(self, barcode: str, part: int | None = None) -> list[tuple[str, bool]]:
        """(book as named, secured?) for each tag of `barcode` made in this run (only
        `part` when given), for `expect secured`. `LookupError` when there is none, or
        no pad to read them with: the step's line is the caller's."""
        found = [
            (spec, tag)
            for (code, tag_part), (spec, tag) in self.tags.items()
            if code == barcode and (part is None or tag_part == part)
        ]
        if not found:
            what = barcode if part is None else f"{barcode}:{part}/…"
            raise LookupError(f"no tag for {what} was placed or dropped in this run")
        pad = self.pad
        if pad is None:
            raise LookupError("'expect secured' needs the RFID pad, and this kiosk has none")
        return [(spec.name, bool(pad.tag_secured(tag))) for spec, tag in found]

    def _place(self, step: Step, specs: tuple[TagSpec, ...]) -> None:
        pad = self._need_pad(step)
        for spec in specs:
            if spec.key in self.on_pad:
                raise ScenarioError(step.line, f"'place {spec.name}': that book is on the pad already")
        tags = [self._tag_for(step, spec, lent=False) for spec in specs]
        pad.place(*tags)
        self.on_pad.extend(spec.key for spec in specs)

    def _lift(self, step: Step, specs: tuple[TagSpec, ...]) -> None:
        pad = self._need_pad(step)
        if not self.on_pad:
            raise ScenarioError(step.line, "'lift' but no book is on the pad")
        if not specs:
            pad.lift()
            self.on_pad.clear()
            return
        for spec in specs:
            if spec.key not in self.on_pad:
                raise ScenarioError(step.line, f"'lift {spec.name}': that book is not on the pad")
        pad.lift(*(self.tags[spec.key][1] for spec in specs))
        for spec in specs:
            self.on_pad.remove(spec.key)

    def _drop_tag(self, step: Step, spec: TagSpec) -> None:
        chute = self._need(step, self.tag_chute)
        if spec.key in self.on_pad:
            raise ScenarioError(
                step.line, f"'drop {spec.name}': that book is still on the pad; 'lift' it first"
            )
        if self.chute is not None:
            self._not_jammed(step, self.chute, spec.name)
        chute.drop_tag(self._tag_for(step, spec, lent=True))

    def _tag_for(self, step: Step, spec: TagSpec, *, lent: bool) -> object:
        """The book's tag: the one made when it first appeared, else a new one."""
        known = self.tags.get(spec.key)
        if known is not None:
            first, tag = known
            faulty = spec.unreadable or spec.write_fails
            if faulty and (first.unreadable, first.write_fails) != (spec.unreadable, spec.write_fails):
                raise ScenarioError(
                    step.line,
                    f"'{step.verb} {spec.text}': that book appeared before as '{first.text}'; "
                    "its tag keeps the faults it first had",
                )
            return tag
        tag = self._need(step, self.library_tag)(spec, lent)
        self.tags[spec.key] = (spec, tag)
        return tag

    def _need_pad(self, step: Step) -> RfidPad:
        if self.pad is None:
            raise ScenarioError(
                step.line,
                f"'{step.verb}' needs the RFID lending pad; run the kiosk with a config that "
                "fits one ([devices.rfid_pad] kind = \"pn5180\", e.g. "
                "--config scenarios/rfid_pad.toml)",
            )
        return self.pad

    @staticmethod
    def _not_jammed(step: Step, chute: ChuteHandle, book: str) -> None:
        if chute.jammed:  # the slot is blocked: the book is never read, never enters
            raise ScenarioError(
                step.line,
                f"'drop {book}': the chute is jammed, its slot blocked until "
                "'clear'; the book stays with the reader and nothing is recorded",
            )

    def handle_other(self, step: Step) -> None:
        """Steps for the kiosk core (pin, press, hub, power, expect); override or pass
        `other`."""
        if self.other is None:
            raise UnhandledStep(
                step.line,
                f"'{step.verb}' needs the kiosk core; this runner plays device steps only",
            )
        self.other(step)

    def _scan(self, step: Step, scanner: ScannerHandle | None, barcode: str) -> None:
        handle = self._need(step, scanner)
        wait_opened = getattr(handle, "wait_opened", None)
        if wait_opened is not None and not wait_opened(self.scanner_open_timeout_s):
            raise ScenarioError(step.line, f"'{step.verb}': no driver has opened the scanner port")
        if handle.scan(barcode) is False:
            raise ScenarioError(step.line, f"'{step.verb}': the scanner is unplugged")

    @staticmethod
    def _need(step: Step, handle: _Handle | None) -> _Handle:
        if handle is None:
            raise ScenarioError(
                step.line, f"'{step.verb}' needs a simulated device this runner was not given"
            )
        return handle
