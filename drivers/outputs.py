"""The chute's optional outputs: diverter flap, status light and buzzer (gpiozero).

Each output is optional (pin None = not fitted). The flap routes a returned book:
off (resting) sends it to the "shelve" bin, on diverts it to the "transfer"/"hold"
bin, which staff sort by the printed slip. The status light shows ok (steady),
busy (fast blink) or fault (slow blink); the buzzer beeps short patterns.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

from drivers.diagnostics import DiagResult

if TYPE_CHECKING:
    from gpiozero import LED, Buzzer, OutputDevice
    from gpiozero.pins import Factory

Route = Literal["shelve", "transfer", "hold"]
Status = Literal["off", "ok", "busy", "fault"]
BeepPattern = Literal["ok", "error", "attention"]
PinSpec = int | str

FLAP_ON_FOR_ROUTE: dict[str, bool] = {"shelve": False, "transfer": True, "hold": True}
_BLINK: dict[str, tuple[float, float]] = {"busy": (0.15, 0.15), "fault": (0.8, 0.8)}
_BEEPS: dict[str, tuple[float, float, int]] = {
    "ok": (0.08, 0.08, 1),
    "error": (0.15, 0.1, 3),
    "attention": (0.6, 0.2, 1),
}


class Outputs:
    """Flap, status LED and buzzer on injected gpiozero pins; `close()` is idempotent."""

    def __init__(
        self,
        pin_factory: Factory | None,
        *,
        flap_pin: PinSpec | None = None,
        led_pin: PinSpec | None = None,
        buzzer_pin: PinSpec | None = None,
    ) -> None:
        from gpiozero import LED, Buzzer, OutputDevice  # backend chosen here, not at import

        self._lock = threading.Lock()
        self._closed = False
        self.route: Route = "shelve"
        self.status: Status = "off"
        self.flap: OutputDevice | None = None
        self.led: LED | None = None
        self.buzzer: Buzzer | None = None
        try:
            if flap_pin is not None:
                self.flap = OutputDevice(flap_pin, initial_value=False, pin_factory=pin_factory)
            if led_pin is not None:
                self.led = LED(led_pin, pin_factory=pin_factory)
            if buzzer_pin is not None:
                self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
        except Exception:
            self.close()
            raise

    def set_route(self, route: Route) -> None:
        """Position the flap for the next book."""
        if route not in FLAP_ON_FOR_ROUTE:
            raise ValueError(f"unknown route {route!r}")
        with self._lock:
            self.route = route
            if self.flap is not None:
                self.flap.value = FLAP_ON_FOR_ROUTE[route]

    def show_status(self, status: Status) -> None:
        """ok = steady light, busy = fast blink, fault = slow blink, off = dark."""
        with self._lock:
            self.status = status
            if self.led is None:
                return
            if status == "ok":
                self.led.on()
            elif status == "off":
                self.led.off()
            elif status in _BLINK:
                on_time, off_time = _BLINK[status]
                self.led.blink(on_time, off_time, background=True)
            else:
                raise ValueError(f"unknown status {status!r}")

    def beep(self, pattern: BeepPattern = "ok") -> None:
        """Beep in the background: ok = one short, error = three, attention = one long."""
        if pattern not in _BEEPS:
            raise ValueError(f"unknown beep pattern {pattern!r}")
        if self.buzzer is not None:
            on_time, off_time, count = _BEEPS[pattern]
            self.buzzer.beep(on_time, off_time, n=count, background=True)

    def diagnose(self) -> list[DiagResult]:
        """Drive each fitted output on and off and read the pin back ("output-fault"
        when it does not follow), then restore the route and status shown before."""
        results: list[DiagResult] = []
        with self._lock:
            for name, device in (
                ("flap", self.flap),
                ("status_led", self.led),
                ("buzzer", self.buzzer),
            ):
                if device is None:
                    continue
                seen = []
                for level in (True, False):
                    device.value = level
                    seen.append(bool(device.pin.state))
                if seen == [True, False]:
                    results.append(DiagResult.passed(name, "toggles"))
                else:
                    results.append(DiagResult.fault(name, "output-fault", f"pin read {seen}"))
        self.set_route(self.route)
        self.show_status(self.status)
        return results

    def close(self) -> None:
        """Release the pins (outputs fall to their resting state). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for device in (self.flap, self.led, self.buzzer):
                if device is not None:
                    device.close()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
