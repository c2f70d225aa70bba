"""The return chute's two light beams (entry and exit), read through gpiozero.

A book dropped into the chute breaks the entry beam, falls, breaks the exit beam and
is inside the machine when the exit beam clears again. The driver turns beam edges
into `BookEntered`, `BookPassed`, `BookPulledBack`, `BooksTooClose`, `ChuteJammed` and
`ChuteCleared` events.

Wiring: common break-beam receivers are open-collector outputs; with the pin's
pull-up on, the pin reads high while the receiver sees its emitter and low while the
beam is BROKEN, so a beam device is "active" while broken. Receivers of the other
kind (push-pull, high when broken) take `broken_low=False`, which pulls the pin down.

Where debouncing lives: here, in the driver. gpiozero's `bounce_time` is applied by
the backend, differently by RPi.GPIO, lgpio and rpi-lgpio, and not at all by mock
pins, so the driver asks the backend for nothing and accepts a level only once it has
been stable for `bounce_s`. The same behaviour on every backend, and testable.

Times (`at`) are `time.monotonic()` seconds of the edge that settled.
After a jam is cleared the books that were in the chute are forgotten: staff took
them out by hand, so they never passed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import DiagResult
from drivers.events import (
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksTooClose,
    ChuteCleared,
    ChuteJammed,
    DeviceEvent,
    Post,
)

if TYPE_CHECKING:
    from gpiozero import DigitalInputDevice
    from gpiozero.pins import Factory

Beam = Literal["entry", "exit"]
BEAMS: tuple[Beam, Beam] = ("entry", "exit")
PinSpec = int | str


@dataclass
class _Book:
    """A book between the beams, as far as the beams can tell."""

    entered_at: float
    entry_cleared_at: float | None = None
    at_exit: bool = False


@dataclass
class _BeamState:
    raw: bool  # True = broken, as last reported by the pin (may be bouncing)
    stable: bool  # the debounced level the book logic has seen
    stable_since: float
    decided: bool  # the debounced level as far as edges have been judged
    edges: deque[tuple[float, bool]] = field(default_factory=deque)  # not yet judged
    jam_reported: bool = False
    toggles: int = 0  # raw edges seen, for the self-test


class Chute(ThreadedDevice):
    """Debounced entry/exit beams of the return chute, posting book events.

    A monitor thread, started when the chute is built, applies the debounce and the
    jam and pull-back timers; pin callbacks only record edges. `close()` is idempotent
    and releases the pins; the class is a context manager (both from
    `drivers.device_thread.ThreadedDevice`).
    """

    def __init__(
        self,
        post: Post,
        *,
        entry_pin: PinSpec,
        exit_pin: PinSpec,
        pin_factory: Factory | None = None,
        bounce_s: float = 0.005,
        jam_after_s: float = 3.0,
        min_gap_s: float = 0.3,
        pull_back_after_s: float = 2.0,
        broken_low: bool = True,
    ) -> None:
        from gpiozero import DigitalInputDevice  # the backend is chosen here, not at import

        super().__init__(thread_name="chute-beams")
        self._post = post
        self.bounce_s = bounce_s
        self.jam_after_s = jam_after_s
        self.min_gap_s = min_gap_s
        self.pull_back_after_s = pull_back_after_s
        self._cond = threading.Condition()
        self._muted = False
        self._books: list[_Book] = []
        self._last_entry_at: float | None = None
        self._ready: list[tuple[float, Beam, bool]] = []  # debounced, not yet applied
        self._jammed = False
        self._devices: dict[Beam, DigitalInputDevice] = {}
        try:
            for beam, pin in (("entry", entry_pin), ("exit", exit_pin)):
                # No bounce_time: debouncing is ours (module docstring).
                self._devices[beam] = DigitalInputDevice(
                    pin, pull_up=broken_low, pin_factory=pin_factory
                )
        except Exception:
            self._close_devices()
            raise
        now = time.monotonic()
        self._beams: dict[Beam, _BeamState] = {}
        for beam, device in self._devices.items():
            level = bool(device.value)
            self._beams[beam] = _BeamState(raw=level, stable=level, stable_since=now, decided=level)
            device.when_activated = self._edge_handler(beam, True)
            device.when_deactivated = self._edge_handler(beam, False)
        self.start()

    # -- what callers may read ----------------------------------------------------------

    def beam_broken(self, beam: Beam) -> bool:
        """The debounced level of a beam."""
        with self._cond:
            return self._beams[beam].stable

    @property
    def jammed(self) -> bool:
        with self._cond:
            return self._jammed

    # -- pin callbacks: record only -----------------------------------------------------

    def _edge_handler(self, beam: Beam, broken: bool) -> Callable[[], None]:
        def on_edge() -> None:
            with self._cond:
                state = self._beams[beam]
                state.raw = broken
                state.edges.append((time.monotonic(), broken))
                state.toggles += 1
                self._cond.notify()

        return on_edge

    # -- the monitor thread ---------------------------------------------------------------

    def _run(self) -> None:
        """The monitor: settle edges and run the timers, sleeping on the condition until
        the next edge or deadline; until `close()` (whose `_wake` notifies it)."""
        while True:
            with self._cond:
                if self._stop.is_set():
                    return
                now = time.monotonic()
                events = self._settle(now) + self._run_timers(now)
                if self._muted:
                    events = []
                if not events:
                    deadline = self._next_deadline()
                    self._cond.wait(None if deadline is None else max(0.0, deadline - now))
            for event in events:
                self._post(event)

    def _settle(self, now: float) -> list[DeviceEvent]:
        """Judge recorded edges by their timestamps: a level counts when the next edge
        came at least `bounce_s` later (or none has, by now). Judging by timestamps, not
        by when this thread wakes, means a late wake-up delays events but never loses
        or reorders a book. Transitions are applied in time order across both beams,
        and only up to the earliest edge still being judged."""
        horizon = float("inf")
        for beam, state in self._beams.items():
            edges = state.edges
            while edges:
                at, level = edges[0]
                lasted_until = edges[1][0] if len(edges) > 1 else now
                if lasted_until - at < self.bounce_s:
                    if len(edges) == 1:
                        horizon = min(horizon, at)
                        break
                    edges.popleft()  # bounce: the level did not last
                    continue
                edges.popleft()
                if level != state.decided:
                    state.decided = level
                    self._ready.append((at, beam, level))
        self._ready.sort()
        events: list[DeviceEvent] = []
        while self._ready and self._ready[0][0] < horizon:
            at, beam, level = self._ready.pop(0)
            state = self._beams[beam]
            state.stable, state.stable_since, state.jam_reported = level, at, False
            events += self._on_level(beam, level, at)
        return events

    def _on_level(self, beam: Beam, broken: bool, at: float) -> list[DeviceEvent]:
        if beam == "entry" and broken:
            too_close = bool(self._books) or (
                self._last_entry_at is not None and at - self._last_entry_at < self.min_gap_s
            )
            self._books.append(_Book(entered_at=at))
            self._last_entry_at = at
            return [BookEntered(at), BooksTooClose(at)] if too_close else [BookEntered(at)]
        if beam == "entry":
            for book in reversed(self._books):
                if book.entry_cleared_at is None:
                    book.entry_cleared_at = at
                    break
            return self._check_cleared()
        if broken:
            for book in self._books:
                if not book.at_exit:
                    book.at_exit = True
                    break
            return []
        events = self._check_cleared()
        for book in self._books:
            if book.at_exit:
                self._books.remove(book)
                events.append(BookPassed(at, transit_ms=(at - book.entered_at) * 1000.0))
                break
        return events

    def _check_cleared(self) -> list[DeviceEvent]:
        if self._jammed and not any(s.stable for s in self._beams.values()):
            self._jammed = False
            self._books.clear()  # taken out by hand: they never passed
            return [ChuteCleared()]
        return []

    def _run_timers(self, now: float) -> list[DeviceEvent]:
        events: list[DeviceEvent] = []
        for beam, state in self._beams.items():
            blocked_s = now - state.stable_since
            if state.stable and not state.jam_reported and blocked_s >= self.jam_after_s:
                state.jam_reported = True
                self._jammed = True
                events.append(ChuteJammed(beam, blocked_s))
        for book in list(self._books):
            cleared = book.entry_cleared_at
            if not book.at_exit and cleared is not None and now - cleared >= self.pull_back_after_s:
                self._books.remove(book)
                events.append(BookPulledBack(cleared))
        return events

    def _next_deadline(self) -> float | None:
        deadlines = [
            state.edges[-1][0] + self.bounce_s for state in self._beams.values() if state.edges
        ]
        deadlines += [
            state.stable_since + self.jam_after_s
            for state in self._beams.values()
            if state.stable and not state.jam_reported
        ]
        deadlines += [
            book.entry_cleared_at + self.pull_back_after_s
            for book in self._books
            if book.entry_cleared_at is not None and not book.at_exit
        ]
        return min(deadlines, default=None)

    # -- self-test ----------------------------------------------------------------------

    def diagnose(
        self, exercise: Callable[[], object] | None = None, *, settle_s: float = 0.05
    ) -> list[DiagResult]:
        """Self-test of both beams. With `exercise` (a callable that breaks and clears
        each beam, e.g. the simulator's or a technician's hand), each beam must toggle:
        one that never changes is "beam-stuck" if it reads broken, else "beam-dead".
        Without it, both beams must read clear. Book events are muted meanwhile, so a
        test never becomes a return."""
        with self._cond:
            self._muted = True
            before = {beam: state.toggles for beam, state in self._beams.items()}
        try:
            if exercise is not None:
                exercise()
            time.sleep(max(settle_s, 2 * self.bounce_s))  # the last edge settles
            with self._cond:
                results = [
                    self._diagnose_beam(beam, state, state.toggles - before[beam], exercise)
                    for beam, state in self._beams.items()
                ]
                self._books.clear()
                self._last_entry_at = None
        finally:
            with self._cond:
                self._muted = False
        failed = [r for r in results if not r.ok]
        if failed:
            return failed
        return [DiagResult.passed("chute", "; ".join(r.detail for r in results))]

    def _diagnose_beam(
        self, beam: Beam, state: _BeamState, toggles: int, exercise: object
    ) -> DiagResult:
        broken = state.raw
        if exercise is not None and toggles == 0:
            code = "beam-stuck" if broken else "beam-dead"
            return DiagResult.fault("chute", code, f"{beam} beam never changed")
        if broken:
            return DiagResult.fault("chute", "beam-stuck", f"{beam} beam reads blocked")
        return DiagResult.passed("chute", f"{beam} beam ok")

    # -- life cycle ---------------------------------------------------------------------

    def _wake(self) -> None:
        """The monitor sleeps on the condition: wake it to see the stop."""
        with self._cond:
            self._cond.notify()

    def _release(self) -> None:
        """After the monitor stopped: release the pins."""
        self._close_devices()

    def _close_devices(self) -> None:
        for device in self._devices.values():
            device.close()
