"""The return chute emulated at the pin level: a chute that drives its beam pins the
way books, hands, jams and dirt do.

The real `drivers.chute.Chute` runs unchanged on `hal_sim.gpio.SimPinFactory` pins
(whichever the config names). Timing is realistic on purpose: a book breaks the entry
beam, the exit beam breaks a little later while the book falls (often while the entry
beam is still broken), and every edge comes with contact bounce (a few sub-millisecond
toggles), which mock pins do not filter (gpiozero's MockPin ignores bounce_time).
Bounce toggles are spaced by short busy-waits rather than sleeps so a loaded machine
cannot stretch a bounce into a level the debouncer would accept.

Beams are wired like common open-collector receivers: the pin is pulled up and reads
low while the beam is broken (`broken_low=True`, the driver's default).

A jammed chute takes no book: the stuck book blocks the slot, and a kiosk with an
intake flap keeps it closed while it is out of service. So `drop` (and every other
way of feeding a book) on a jammed chute raises `ChuteBlocked` and changes nothing:
the book is never read by the chute's scanner, never breaks a beam, and the jam stays
until `clear()` (staff open the chute).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Literal

from hal_sim.gpio import PinSpec, SimPin, SimPinFactory

Beam = Literal["entry", "exit"]


class ChuteBlocked(RuntimeError):
    """A book was offered to a jammed chute: it stays with the reader."""


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class SimulatedChute:
    """A return chute with two light beams. Methods block while the action plays out
    (a drop takes about `fall_ms + ms` milliseconds) and read like what happens."""

    def __init__(
        self,
        factory: SimPinFactory,
        entry_pin: PinSpec,
        exit_pin: PinSpec,
        *,
        broken_low: bool = True,
        seed: int | None = 0,
    ) -> None:
        self._pins: dict[Beam, SimPin] = {
            "entry": factory.sim_pin(entry_pin),
            "exit": factory.sim_pin(exit_pin),
        }
        self._broken_low = broken_low
        self._held: dict[Beam, bool] = {}  # beams stuck at a level, whatever the books do
        self._jammed: set[Beam] = set()  # beams a stuck book blocks, until clear()
        self._random = random.Random(seed)
        self._lock = threading.RLock()

    # -- books ------------------------------------------------------------------------

    @property
    def jammed(self) -> bool:
        """A book is stuck in the chute (`jam()`), until staff `clear()` it."""
        with self._lock:
            return bool(self._jammed)

    def refuse_if_jammed(self) -> None:
        """Raise ChuteBlocked while jammed: what a book offered to the slot meets."""
        if self.jammed:
            raise ChuteBlocked(
                "the chute is jammed: its slot is blocked (the flap stays closed) until "
                "staff clear it; the book stays with the reader and nothing is recorded"
            )

    def drop(self, ms: float = 40, bounce: bool = True, fall_ms: float = 30) -> None:
        """A book drops through: each beam is broken for `ms` while it passes, the exit
        beam breaking `fall_ms` after the entry beam. ChuteBlocked while jammed."""
        self.refuse_if_jammed()
        self._play(self._book_timeline(0.0, ms, fall_ms), bounce)

    def pull_back(self, ms: float = 300, bounce: bool = True) -> None:
        """A reader pushes a book into the entry beam, then changes their mind."""
        self.refuse_if_jammed()
        self._play([(0.0, "entry", True), (ms / 1000, "entry", False)], bounce)

    def drop_two_close(self, gap_ms: float = 50, ms: float = 40, fall_ms: float = 30) -> None:
        """Two books fed together: the second enters `gap_ms` after the first."""
        self.refuse_if_jammed()
        timeline = self._book_timeline(0.0, ms, fall_ms)
        timeline += self._book_timeline(gap_ms / 1000, ms, fall_ms)
        self._play(timeline, bounce=True)

    def feed(self, books: int, interval_ms: float, ms: float = 40, fall_ms: float = 30) -> None:
        """A stack of `books` fed one after another, a book every `interval_ms`. Books
        closer than `ms` touch: the entry beam never clears between them."""
        self.refuse_if_jammed()
        timeline: list[tuple[float, Beam, bool]] = []
        for book in range(books):
            timeline += self._book_timeline(book * interval_ms / 1000, ms, fall_ms)
        self._play(timeline, bounce=True)

    def exercise(self) -> None:
        """A technician's hand through each beam in turn (for the chute self-test)."""
        for beam in ("entry", "exit"):
            self._play([(0.0, beam, True), (0.02, beam, False)], bounce=True)

    # -- faults -----------------------------------------------------------------------

    def jam(self, beam: Beam = "entry") -> None:
        """A book gets stuck across `beam` and stays there until `clear()`."""
        with self._lock:
            self._jammed.add(beam)
            self._set(beam, True, bounce=True)

    def clear(self) -> None:
        """Staff open the chute and take out whatever was stuck: both beams clear."""
        with self._lock:
            self._jammed.clear()
            for beam in ("entry", "exit"):
                self._set(beam, False, bounce=True)

    def stick(self, beam: Beam) -> None:
        """Dirt on the lens: `beam` reads broken whatever happens (beam-stuck), even
        if the driver opens the pin (and sets its pull) only afterwards."""
        self._hold(beam, True)

    def cut(self, beam: Beam) -> None:
        """The sensor's cable is cut: the pull-up makes `beam` read clear forever
        (beam-dead)."""
        self._hold(beam, False)

    def repair(self, beam: Beam) -> None:
        """Lens cleaned, cable mended: the beam follows books again."""
        with self._lock:
            self._held.pop(beam, None)
            self._pins[beam].disconnected = False
            self._set(beam, False, bounce=False)

    def _hold(self, beam: Beam, broken: bool) -> None:
        with self._lock:
            self._held.pop(beam, None)
            self._pins[beam].disconnected = False
            self._set(beam, broken, bounce=False)
            self._held[beam] = broken
            self._pins[beam].disconnected = True  # the level stays, whoever drives it

    def is_broken(self, beam: Beam) -> bool:
        """What the beam's pin says right now (raw, bounce included)."""
        return self._pins[beam].state == (not self._broken_low)

    # -- pins -------------------------------------------------------------------------

    @staticmethod
    def _book_timeline(start_s: float, ms: float, fall_ms: float) -> list[tuple[float, Beam, bool]]:
        return [
            (start_s, "entry", True),
            (start_s + ms / 1000, "entry", False),
            (start_s + fall_ms / 1000, "exit", True),
            (start_s + (fall_ms + ms) / 1000, "exit", False),
        ]

    def _play(self, timeline: list[tuple[float, Beam, bool]], bounce: bool) -> None:
        # Each edge waits its gap after the previous one actually happened: a late
        # wake-up shifts the rest of the timeline instead of compressing it, so a busy
        # machine never makes two books touch that were apart in the script.
        with self._lock:
            previous = 0.0
            for at, beam, broken in sorted(timeline, key=lambda step: step[0]):
                if at > previous:
                    time.sleep(at - previous)
                    previous = at
                self._set(beam, broken, bounce)

    def _set(self, beam: Beam, broken: bool, bounce: bool) -> None:
        with self._lock:
            if beam in self._held:
                return
            pin = self._pins[beam]
            if bounce:
                for _ in range(self._random.randint(2, 4)):
                    self._drive(pin, broken)
                    _spin(self._random.uniform(0.0001, 0.0004))
                    self._drive(pin, not broken)
                    _spin(self._random.uniform(0.0001, 0.0004))
            self._drive(pin, broken)

    def _drive(self, pin: SimPin, broken: bool) -> None:
        if broken == self._broken_low:
            pin.drive_low()
        else:
            pin.drive_high()
