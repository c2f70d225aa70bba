"""The simulator's GPIO: a gpiozero pin factory whose pins the simulated world drives
(beams) and watches (the reader's reset line, the outputs).

Inject `SimPinFactory` as `pin_factory=` wherever a Pi would use gpiozero's default;
the drivers run unchanged on it. A pin is named as gpiozero names it (17, "GPIO17" and
"BCM17" are one pin), so the world and the drivers meet on whatever pins the config
names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory, MockPin

PinSpec = int | str


class SimPin(MockPin):
    """A mock pin whose wire can be cut and whose level can be watched.

    `disconnected` pins ignore every drive and write, which is how the simulator shows
    a dead output or a dead sensor. `watch(callback)` calls `callback(level)` after
    every change of level, whoever made it (a driver writing an output, the world
    driving an input): that is how a simulated chip sees its reset pin."""

    def __init__(self, factory: MockFactory, info: object) -> None:
        self.disconnected = False
        self._drive_lock = threading.RLock()
        self._watchers: list[Callable[[bool], object]] = []
        super().__init__(factory, info)

    def watch(self, callback: Callable[[bool], object]) -> None:
        self._watchers.append(callback)

    def _change_state(self, value: bool) -> bool:
        if self.disconnected:
            return False
        changed = bool(super()._change_state(value))
        if changed:
            for callback in list(self._watchers):
                callback(bool(value))
        return changed

    def drive_high(self) -> None:
        with self._drive_lock:  # edges and their callbacks stay in order across threads
            super().drive_high()

    def drive_low(self) -> None:
        with self._drive_lock:
            super().drive_low()


class SimPinFactory(MockFactory):
    """gpiozero's mock factory making `SimPin`s; inject it as `pin_factory=`."""

    def __init__(self, revision: str | None = None) -> None:
        super().__init__(revision=revision, pin_class=SimPin)

    def sim_pin(self, spec: PinSpec) -> SimPin:
        """The pin behind `spec` (the same object the devices use)."""
        pin = self.pin(spec)
        assert isinstance(pin, SimPin)
        return pin
