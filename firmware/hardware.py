"""The kiosk's devices on a Raspberry Pi: SPI for the card reader, serial ports for the
scanners, GPIO through gpiozero for the chute and outputs. Backends are imported only
here, when the devices are opened, never at import time."""

from __future__ import annotations

import queue
import sys

from drivers.events import Post
from firmware.config import ConfigError, KioskConfig, load_config
from firmware.devices import DeviceSet


def build_hardware_devices(config: KioskConfig, post: Post) -> DeviceSet:
    """Open the real devices named in the config; a missing scanner port is an error
    the technician can fix in the config, named plainly."""
    from drivers.card_reader import CardReader
    from drivers.chute import Chute
    from drivers.mfrc522 import MFRC522, open_spi
    from drivers.outputs import Outputs
    from drivers.scanner import BarcodeScanner

    d = config.devices
    for name, section in (("scanner", d.scanner), ("chute_scanner", d.chute_scanner)):
        if section.port is None:
            raise ConfigError(f"devices.{name}.port: set the serial port (e.g. /dev/ttyACM0) or run with --sim")
    spi = open_spi(d.card_reader.spi_bus, d.card_reader.spi_device)
    reader = CardReader(
        MFRC522(spi),
        post,
        interval_s=d.card_reader.poll_interval_s,
        key=bytes.fromhex(d.card_reader.key_hex),
    )
    return DeviceSet(
        card_reader=reader,
        scanner=BarcodeScanner(d.scanner.port, post, baudrate=d.scanner.baud, suffix=d.scanner.suffix),  # type: ignore[arg-type]
        chute_scanner=BarcodeScanner(
            d.chute_scanner.port,  # type: ignore[arg-type]
            post,
            baudrate=d.chute_scanner.baud,
            suffix=d.chute_scanner.suffix,
            source="chute",
        ),
        chute=Chute(
            post,
            entry_pin=d.chute.entry_pin,
            exit_pin=d.chute.exit_pin,
            bounce_s=d.chute.bounce_ms / 1000,
            jam_after_s=d.chute.jam_after_s,
        ),
        outputs=Outputs(
            None,
            flap_pin=d.outputs.flap_pin,
            led_pin=d.outputs.led_pin,
            buzzer_pin=d.outputs.buzzer_pin,
        ),
    )


def diag_hardware(config_path: str | None, *, as_json: bool) -> int:
    """Self-test of a Pi's devices (a technician holds a test card on the reader)."""
    from pathlib import Path

    from firmware.diag import report, run_self_test

    try:
        config = load_config(Path(config_path) if config_path else None)
        events: queue.Queue[object] = queue.Queue()
        devices = build_hardware_devices(config, events.put)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no SPI/GPIO here: say so instead of a traceback
        print(
            f"cannot open the kiosk's hardware ({type(exc).__name__}: {exc}).\n"
            "On a machine without the kiosk's hardware, use: python -m firmware diag --sim",
            file=sys.stderr,
        )
        return 1
    try:
        return report(run_self_test(devices), as_json=as_json, out=sys.stdout)
    finally:
        devices.close()
