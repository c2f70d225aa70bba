"""EM book-security units (desensitiser/resensitiser under the desk and in the chute),
behind `drivers.book_security.SecuritySwitch`.

Two kinds, as the config picks (`[security] kind`):
- `EmGpioUnit`: the unit has a "desensitise" and a "resensitise" trigger input; the
  kiosk pulses the right output pin high for `pulse_s`. Units with a "done" output
  wire it to `confirm_pin`: the switch then counts only if that line went active
  within `confirm_timeout_s` of the pulse's start (`security-no-confirm` otherwise).
- `EmSerialUnit`: the unit takes a command line over a serial port (pyserial) and
  answers one line: `ok_answer` = done, anything else = refused (`security-refused`),
  nothing within `timeout_s` = `security-no-answer`. The port is opened at the first
  switch and reopened after an I/O error, so a unit plugged in late still works.

Neither raises for a unit's fault, and neither waits longer than its timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING

from drivers.book_security import IO_ERROR, NO_ANSWER, NO_CONFIRM, REFUSED, SwitchResult
from drivers.diagnostics import DiagResult

if TYPE_CHECKING:
    import serial
    from gpiozero import DigitalInputDevice, OutputDevice
    from gpiozero.pins import Factory

PinSpec = int | str
DEVICE = "security"


class EmGpioUnit:
    """An EM unit triggered by a pulse on one of two output pins (module docstring)."""

    def __init__(
        self,
        *,
        unsecure_pin: PinSpec,
        secure_pin: PinSpec,
        confirm_pin: PinSpec | None = None,
        pulse_s: float = 0.2,
        confirm_timeout_s: float = 0.5,
        pin_factory: Factory | None = None,
    ) -> None:
        from gpiozero import DigitalInputDevice, OutputDevice  # backend chosen here

        if pulse_s <= 0:
            raise ValueError("pulse_s must be positive")
        self.pulse_s = pulse_s
        self.confirm_timeout_s = confirm_timeout_s
        self._lock = threading.Lock()
        self._confirmed = threading.Event()
        self._closed = False
        self._outputs: dict[str, OutputDevice] = {}
        self._confirm: DigitalInputDevice | None = None
        try:
            for name, pin in (("unsecure", unsecure_pin), ("secure", secure_pin)):
                self._outputs[name] = OutputDevice(pin, initial_value=False, pin_factory=pin_factory)
            if confirm_pin is not None:
                self._confirm = DigitalInputDevice(confirm_pin, pull_up=False, pin_factory=pin_factory)
                self._confirm.when_activated = self._confirmed.set
        except Exception:
            self.close()
            raise

    def secure(self, item: str) -> SwitchResult:
        return self._pulse("secure")

    def unsecure(self, item: str) -> SwitchResult:
        return self._pulse("unsecure")

    def _pulse(self, name: str) -> SwitchResult:
        with self._lock:
            if self._closed:
                return SwitchResult.fault(IO_ERROR, "the unit's pins are closed")
            output = self._outputs[name]
            self._confirmed.clear()
            started = time.monotonic()
            output.on()
            try:
                time.sleep(self.pulse_s)
            finally:
                output.off()
            if self._confirm is None:
                return SwitchResult.done(f"{name} pulse {self.pulse_s * 1000:.0f} ms")
            left = self.confirm_timeout_s - (time.monotonic() - started)
            if self._confirmed.is_set() or self._confirmed.wait(max(0.0, left)):
                return SwitchResult.done(f"{name} confirmed")
            return SwitchResult.fault(
                NO_CONFIRM, f"no confirm within {self.confirm_timeout_s * 1000:.0f} ms of the {name} pulse"
            )

    def diagnose(self) -> list[DiagResult]:
        """Pulse the resensitiser (arming is always safe) and, with a confirm line,
        require the unit's confirm."""
        return self.secure("").as_diag(DEVICE)

    def close(self) -> None:
        """Release the pins (outputs fall low). Safe to call twice."""
        with self._lock:
            self._closed = True
            for device in (*self._outputs.values(), self._confirm):
                if device is not None:
                    device.close()
            self._outputs = {}
            self._confirm = None


class EmSerialUnit:
    """An EM unit taking one command line over a serial port (module docstring)."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        unsecure_command: str = "DESENS",
        secure_command: str = "RESENS",
        ok_answer: str = "OK",
        timeout_s: float = 1.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.commands = {"unsecure": unsecure_command, "secure": secure_command}
        self.ok_answer = ok_answer
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._serial: serial.Serial | None = None
        self._closed = False

    def secure(self, item: str) -> SwitchResult:
        return self._command("secure")

    def unsecure(self, item: str) -> SwitchResult:
        return self._command("unsecure")

    def _command(self, name: str) -> SwitchResult:
        import serial

        command = self.commands[name]
        with self._lock:
            if self._closed:
                return SwitchResult.fault(IO_ERROR, "the unit's port is closed")
            try:
                port = self._open()
                port.reset_input_buffer()  # a late answer to an earlier command is not ours
                port.write(command.encode("ascii") + b"\r\n")
                port.flush()
                answer = port.read_until(b"\n")
            except (OSError, serial.SerialException) as exc:
                self._drop()
                return SwitchResult.fault(IO_ERROR, f"{self.port}: {exc}")
        text = answer.decode("ascii", "replace").strip()
        if not answer.endswith(b"\n"):
            return SwitchResult.fault(
                NO_ANSWER, f"no answer to {command!r} within {self.timeout_s * 1000:.0f} ms"
            )
        if text != self.ok_answer:
            return SwitchResult.fault(REFUSED, f"{command!r} answered {text!r}")
        return SwitchResult.done(f"{command!r} answered {text!r}")

    def _open(self) -> serial.Serial:
        import serial

        if self._serial is None:
            self._serial = serial.Serial(
                self.port, self.baudrate, timeout=self.timeout_s, write_timeout=self.timeout_s
            )
        return self._serial

    def _drop(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(OSError):
                self._serial.close()
            self._serial = None

    def diagnose(self) -> list[DiagResult]:
        """Ask the unit to resensitise (always safe) and require its "done"."""
        return self.secure("").as_diag(DEVICE)

    def close(self) -> None:
        """Close the port. Safe to call twice."""
        with self._lock:
            self._closed = True
            self._drop()
