"""Stand-ins for the modules the unmodified `mfrc522` package imports (`RPi.GPIO`,
`spidev`), so it runs against an emulated chip: its peer test (tests/hal_sim) and the
bench's comparison with our driver (bench/rfid.py)."""

from __future__ import annotations

import types
from collections.abc import Callable

from hal_sim.mfrc522_chip import EmulatedMFRC522


def package_test_doubles(chip: EmulatedMFRC522) -> dict[str, types.ModuleType]:
    """`RPi`, `RPi.GPIO` and `spidev` stand-ins under which the unmodified `mfrc522`
    package runs against `chip`: every `spidev.SpiDev()` it opens talks to the chip,
    and GPIO calls (reset pin, cleanup) are accepted and recorded. Put them into
    `sys.modules` (e.g. `monkeypatch.setitem`) before importing `mfrc522`."""

    class SpiDev:
        def __init__(self) -> None:
            self.max_speed_hz = chip.max_speed_hz
            self.mode = chip.mode

        def open(self, bus: int, device: int) -> None:
            chip.open(bus, device)

        def close(self) -> None:
            chip.close()

        def xfer2(self, data: list[int]) -> list[int]:
            return chip.xfer2(list(data))

        def xfer(self, data: list[int]) -> list[int]:
            return chip.xfer(list(data))

    spidev = types.ModuleType("spidev")
    spidev.SpiDev = SpiDev  # type: ignore[attr-defined]

    gpio = types.ModuleType("RPi.GPIO")
    calls: list[tuple[str, tuple[object, ...]]] = []
    mode: list[int | None] = [None]

    def record(name: str) -> Callable[..., None]:
        def call(*args: object) -> None:
            calls.append((name, args))
            if name == "setmode":
                mode[0] = int(args[0])  # type: ignore[call-overload]
            elif name == "cleanup":
                mode[0] = None

        return call

    for name in ("setmode", "setup", "output", "cleanup", "setwarnings"):
        setattr(gpio, name, record(name))
    gpio.getmode = lambda: mode[0]  # type: ignore[attr-defined]
    gpio.calls = calls  # type: ignore[attr-defined]
    gpio.BOARD, gpio.BCM, gpio.OUT, gpio.IN = 10, 11, 0, 1  # type: ignore[attr-defined]
    gpio.HIGH, gpio.LOW = 1, 0  # type: ignore[attr-defined]
    rpi = types.ModuleType("RPi")
    rpi.GPIO = gpio  # type: ignore[attr-defined]
    rpi.__path__ = []  # a package, so `import RPi.GPIO` resolves through sys.modules
    return {"RPi": rpi, "RPi.GPIO": gpio, "spidev": spidev}
