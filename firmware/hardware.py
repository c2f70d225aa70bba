"""The transports of a Raspberry Pi's devices: spidev for the card reader and the
fitted RFID tag readers (PN5180, up to 7 MHz), the
configured serial ports for the scanners, gpiozero's default pin factory (lgpio on a
Pi) for the chute, outputs and the reader's reset line. Backends are imported only
when the transports are opened, never at import time. The devices themselves are built
by `firmware.devices.build_devices`, as in the simulator."""

from __future__ import annotations

import queue
import sys

from drivers.transports import DeviceTransports, RfidLink
from firmware.config import ConfigError, KioskConfig, load_config

PN5180_SPI_HZ = 7_000_000  # the PN5180's host interface maximum (datasheet 11.4)


def pi_transports(config: KioskConfig) -> DeviceTransports:
    """Open the SPI device and name the scanners' serial ports or input devices and the
    printer's link given in the config; a missing scanner port or device is an error the
    technician can fix in the config, named plainly. No self-test aids: on a Pi a
    technician's hand provides them."""
    from drivers.mfrc522_spi import open_spi
    from firmware.devices import printer_link_from

    d = config.devices
    ports: dict[str, str | None] = {}
    inputs: dict[str, str | None] = {}
    for name, section in (("scanner", d.scanner), ("chute_scanner", d.chute_scanner)):
        ports[name], inputs[name] = section.port, section.device
        if section.kind == "hid" and section.device is None:
            raise ConfigError(
                f"devices.{name}.device: set the scanner's input device "
                "(e.g. /dev/input/by-id/usb-...-event-kbd) or run with --sim"
            )
        if section.kind == "serial" and section.port is None:
            raise ConfigError(f"devices.{name}.port: set the serial port (e.g. /dev/ttyACM0) or run with --sim")
    printer = printer_link_from(d.printer)
    spi = open_spi(d.card_reader.spi_bus, d.card_reader.spi_device)
    on_close = [spi.close]
    rfid: dict[str, RfidLink] = {}
    try:
        for name, reader in (("rfid_pad", d.rfid_pad), ("chute_rfid", d.chute_rfid)):
            if reader.kind != "none":
                tag_spi = open_spi(reader.spi_bus, reader.spi_device, max_speed_hz=PN5180_SPI_HZ)
                on_close.append(tag_spi.close)
                rfid[name] = RfidLink(tag_spi)  # BUSY: the builder opens busy_pin
    except Exception:
        for close in reversed(on_close):
            close()
        raise
    return DeviceTransports(
        spi=spi,
        desk_port=ports["scanner"],
        chute_port=ports["chute_scanner"],
        pin_factory=None,
        on_close=on_close,
        rfid=rfid,
        desk_input=inputs["scanner"],
        chute_input=inputs["chute_scanner"],
        printer=printer,
    )


def diag_hardware(config_path: str | None, *, as_json: bool) -> int:
    """Self-test of a Pi's devices (a technician holds a test card on the reader)."""
    from pathlib import Path

    from firmware.devices import build_devices
    from firmware.diag import report, run_self_test

    try:
        config = load_config(Path(config_path) if config_path else None)
        events: queue.Queue[object] = queue.Queue()
        devices = build_devices(config, pi_transports(config), events.put)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no SPI/GPIO here: say so instead of a traceback
        print(
            f"cannot open the kiosk's hardware ({type(exc).__name__}: {exc}).\n"
            "On a machine without the kiosk's hardware, use: python -m kiosk_tools diag --sim",
            file=sys.stderr,
        )
        return 1
    try:
        return report(run_self_test(devices), as_json=as_json, out=sys.stdout)
    finally:
        devices.close()
