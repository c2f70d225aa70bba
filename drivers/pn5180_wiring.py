"""The Pi's wiring of a PN5180 beyond SPI: its BUSY output read on a GPIO input
(`open_busy_line`, gpiozero). gpiozero is imported inside it, so this module imports on
machines without it. The RST pin is a reset line like the MFRC522's NRSTPD
(drivers.mfrc522_spi.open_reset_line: low resets, high runs)."""

from __future__ import annotations

from typing import Any


def open_busy_line(pin: int | str, *, pin_factory: Any = None) -> Any:
    """BUSY (BCM number) as a gpiozero DigitalInputDevice: `.value` is truthy while the
    chip works, `.close()` releases the pin. Pulled down, so an unpowered chip reads
    idle and its silence is noticed by the register reads, not as a hang; `pin_factory`
    None is gpiozero's default (lgpio on a Pi)."""
    from gpiozero import DigitalInputDevice  # the backend is chosen here, not at import

    return DigitalInputDevice(pin, pull_up=False, pin_factory=pin_factory)
