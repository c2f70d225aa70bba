"""Simulated EM security units, below the drivers' lowest layer: the unit's firmware
on the far side of a pseudo-terminal (`SimulatedEmSerialUnit`), and a unit wired to
GPIO pins (`SimulatedEmGpioUnit`) that watches the trigger pins and drives the
confirm line. The real `drivers.em_security` classes run unchanged against both.

Fault injection: `mode = "ok"` switches and says so; `"refuse"` answers the refusal
(serial) or never confirms (GPIO); `"silent"` never answers at all (unplugged
firmware, a unit without power).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hal_sim.gpio import PinSpec, SimPinFactory

Mode = Literal["ok", "refuse", "silent"]


class SimulatedEmSerialUnit:
    """An EM unit's serial firmware on a pty: reads command lines, answers one line.
    `.port` is the path the driver opens; `.commands` the lines it received."""

    def __init__(
        self,
        *,
        unsecure_command: str = "DESENS",
        secure_command: str = "RESENS",
        ok_answer: str = "OK",
        refusal: str = "ERR NO-STRIP",
        mode: Mode = "ok",
        answer_delay_s: float = 0.01,
    ) -> None:
        self.known = {unsecure_command: "unsecure", secure_command: "secure"}
        self.ok_answer, self.refusal = ok_answer, refusal
        self.mode: Mode = mode
        self.answer_delay_s = answer_delay_s
        self.commands: list[str] = []
        self.switched: list[str] = []  # "secure"/"unsecure", each switch the unit did
        self._directory = tempfile.mkdtemp(prefix="sim-em-unit-")
        self.port = os.path.join(self._directory, "em-unit")
        master, slave = os.openpty()
        tty.setraw(slave)
        os.symlink(os.ttyname(slave), self.port)
        self._master, self._slave = master, slave
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-em-unit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            readable, _, _ = select.select([self._master], [], [], 0.05)
            if not readable:
                continue
            try:
                buffer += os.read(self._master, 1024)
            except OSError:
                return
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._answer(line.decode("ascii", "replace").strip())

    def _answer(self, command: str) -> None:
        self.commands.append(command)
        if self.mode == "silent":
            return
        time.sleep(self.answer_delay_s)
        action = self.known.get(command)
        if self.mode == "ok" and action is not None:
            self.switched.append(action)
            reply = self.ok_answer
        else:
            reply = self.refusal
        with contextlib.suppress(OSError):
            os.write(self._master, reply.encode("ascii") + b"\r\n")

    def close(self) -> None:
        """Stop the firmware, close the pty, remove the port link. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> SimulatedEmSerialUnit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Pulse:
    """One trigger pulse the unit saw: which input, and how long it was high."""

    action: str
    length_s: float


class SimulatedEmGpioUnit:
    """An EM unit on the simulator's pins: times every high pulse on its trigger pins
    (`.pulses`) and, in mode "ok" with a confirm pin, raises the confirm line for
    `confirm_s` once a pulse of at least `min_pulse_s` ends (a shorter one does not
    switch the strip, as on real units)."""

    def __init__(
        self,
        factory: SimPinFactory,
        *,
        unsecure_pin: PinSpec,
        secure_pin: PinSpec,
        confirm_pin: PinSpec | None = None,
        mode: Mode = "ok",
        min_pulse_s: float = 0.05,
        confirm_s: float = 0.02,
    ) -> None:
        self.mode: Mode = mode
        self.min_pulse_s, self.confirm_s = min_pulse_s, confirm_s
        self.pulses: list[Pulse] = []
        self._confirm = factory.sim_pin(confirm_pin) if confirm_pin is not None else None
        self._rose: dict[str, float] = {}
        for action, pin in (("unsecure", unsecure_pin), ("secure", secure_pin)):
            factory.sim_pin(pin).watch(self._watcher(action))

    def _watcher(self, action: str) -> Callable[[bool], None]:
        def on_level(level: bool) -> None:
            now = time.monotonic()
            if level:
                self._rose[action] = now
                return
            rose = self._rose.pop(action, None)
            if rose is None:
                return
            pulse = Pulse(action, now - rose)
            self.pulses.append(pulse)
            if self.mode == "ok" and self._confirm is not None and pulse.length_s >= self.min_pulse_s:
                threading.Thread(target=self._confirm_pulse, daemon=True).start()

        return on_level

    def _confirm_pulse(self) -> None:
        assert self._confirm is not None
        time.sleep(0.005)
        self._confirm.drive_high()
        time.sleep(self.confirm_s)
        self._confirm.drive_low()
