"""The chute's outputs as the world sees them: where the flap points, whether the
light is lit, whether the buzzer sounds. Read off the `SimPinFactory` pins the real
`drivers.outputs.Outputs` drives, on whichever pins the config names; an output that
is not fitted (pin None) reads as off. `cut(name)` cuts an output's wire (the
self-test then reports "output-fault")."""

from __future__ import annotations

from typing import Literal

from hal_sim.gpio import PinSpec, SimPin, SimPinFactory

OutputName = Literal["flap", "led", "buzzer"]


class SimulatedOutputs:
    def __init__(
        self,
        factory: SimPinFactory,
        *,
        flap_pin: PinSpec | None = None,
        led_pin: PinSpec | None = None,
        buzzer_pin: PinSpec | None = None,
    ) -> None:
        self._pins: dict[OutputName, SimPin] = {
            name: factory.sim_pin(pin)
            for name, pin in (("flap", flap_pin), ("led", led_pin), ("buzzer", buzzer_pin))
            if pin is not None
        }

    def _high(self, name: OutputName) -> bool:
        pin = self._pins.get(name)
        return pin is not None and pin.function == "output" and bool(pin.state)

    @property
    def flap_diverted(self) -> bool:
        """The flap sends the next book to the transfer/hold bin (off: shelve bin)."""
        return self._high("flap")

    @property
    def light_on(self) -> bool:
        return self._high("led")

    @property
    def buzzing(self) -> bool:
        return self._high("buzzer")

    def cut(self, name: OutputName) -> None:
        """The output's wire is cut: the pin no longer follows what the driver writes."""
        self._pins[name].disconnected = True
