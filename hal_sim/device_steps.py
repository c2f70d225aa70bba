"""Plays a scenario's device steps (tap, remove, scan, drop, jam, clear, wait) against
the simulator's handles; every other step is handed to the caller (the kiosk's control
channel) or refused with its line number."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Literal, Protocol, TypeVar

from hal_sim.scenario import (
    Clear,
    Drop,
    Jam,
    Remove,
    Scan,
    ScenarioError,
    Step,
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


_Handle = TypeVar("_Handle")
LibraryCardFactory = Callable[[str, bytes | None], object]


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
            case Drop(barcode=barcode):
                chute = self._need(step, self.chute)
                if chute.jammed:  # the slot is blocked: the book is never read, never enters
                    raise ScenarioError(
                        step.line,
                        f"'drop {barcode}': the chute is jammed, its slot blocked until "
                        "'clear'; the book stays with the reader and nothing is recorded",
                    )
                self._scan(step, self.chute_scanner, barcode)
                chute.drop()
            case Jam(beam=beam):
                self._need(step, self.chute).jam(beam)
            case Clear():
                self._need(step, self.chute).clear()
            case Wait(seconds=seconds):
                self.sleep(seconds)
            case _:
                self.handle_other(step)

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
