"""The Pi's wiring of the MFRC522: the SPI device (`open_spi`, a real `spidev.SpiDev`)
and the NRSTPD reset pin on a GPIO (`open_reset_line`, gpiozero). `spidev` and gpiozero
are imported inside them, so this module imports on machines without either."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from drivers.mfrc522_errors import SpiUnavailable


def open_spi(bus: int = 0, device: int = 0, max_speed_hz: int = 1_000_000) -> Any:
    """Open /dev/spidev{bus}.{device} for the MFRC522 (SPI mode 0). `spidev` is imported
    here, not at module top, so this module imports on machines without it."""
    try:
        import spidev
    except ImportError as exc:
        raise SpiUnavailable(f"spidev is not installed: {exc}") from exc
    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
    except OSError as exc:
        raise SpiUnavailable(f"/dev/spidev{bus}.{device} cannot be opened: {exc}") from exc
    spi.max_speed_hz = max_speed_hz
    spi.mode = 0
    return spi


class GpioResetLine:
    """NRSTPD on a GPIO pin through gpiozero: driven high (run) when opened; see
    `hard_reset`. `close()` is idempotent and releases the pin."""

    def __init__(
        self,
        pin: int | str,
        *,
        pin_factory: Any = None,
        pulse_s: float = 0.001,
        startup_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from gpiozero import DigitalOutputDevice  # the backend is chosen here, not at import

        self.pulse_s = pulse_s
        self.startup_s = startup_s
        self._sleep = sleep
        self._output = DigitalOutputDevice(pin, initial_value=True, pin_factory=pin_factory)
        self._closed = False

    def hard_reset(self) -> None:
        """Low for `pulse_s` (the datasheet asks for 100 ns), then high, then wait
        `startup_s` for the crystal (its start-up time plus 37.74 µs, datasheet 8.8.2;
        50 ms covers every board seen)."""
        self._output.off()
        self._sleep(self.pulse_s)
        self._output.on()
        self._sleep(self.startup_s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._output.close()


def open_reset_line(pin: int | str, *, pin_factory: Any = None) -> GpioResetLine:
    """The MFRC522's NRSTPD pin (BCM number), driven high at once; `pin_factory` None is
    gpiozero's default (lgpio on a Pi), the simulator passes its own."""
    return GpioResetLine(pin, pin_factory=pin_factory)
