"""A kiosk on simulated hardware: the hal_sim rig wired to the pins the config names,
its transports handed to the same device builder and kiosk a Pi runs; and the
technician self-test on it."""

from __future__ import annotations

import queue
import sys
from pathlib import Path
from typing import TextIO

from firmware.assembly import Kiosk, build_kiosk
from firmware.config import KioskConfig, load_config
from firmware.devices import build_devices
from firmware.diag import report, run_self_test
from hal_sim.rig import RfidWiring, SecurityWiring, SimRig


def sim_rig(config: KioskConfig) -> SimRig:
    """The simulated hardware wired as the config says: beams on the chute's pins, the
    card reader's chip of the configured kind (MFRC522 or PN5180) with its reset input
    on the reset pin, the outputs on theirs, scanners sending the configured suffixes,
    the EM security unit (if any) as configured, a PN5180 for each fitted RFID tag
    reader (the lending pad, the chute's) with its RST on its reset pin and the
    library's tag convention. Configured serial ports are not used: the rig's ptys are."""
    d, sec = config.devices, config.security
    rfid = RfidWiring(
        pad=d.rfid_pad.kind != "none",
        chute=d.chute_rfid.kind != "none",
        pad_reset_pin=d.rfid_pad.reset_pin,
        chute_reset_pin=d.chute_rfid.reset_pin,
        convention=config.rfid.security,
        afi_in_stock=config.rfid.afi_in_stock,
    )
    security = SecurityWiring(
        kind=sec.kind,
        unsecure_pin=sec.unsecure_pin,
        secure_pin=sec.secure_pin,
        confirm_pin=sec.confirm_pin,
        unsecure_command=sec.unsecure_command,
        secure_command=sec.secure_command,
        ok_answer=sec.ok_answer,
    )
    return SimRig(
        entry_pin=d.chute.entry_pin,
        exit_pin=d.chute.exit_pin,
        reset_pin=d.card_reader.reset_pin,
        flap_pin=d.outputs.flap_pin,
        led_pin=d.outputs.led_pin,
        buzzer_pin=d.outputs.buzzer_pin,
        desk_suffix=d.scanner.suffix,
        chute_suffix=d.chute_scanner.suffix,
        security=security,
        card_chip=d.card_reader.kind,
        rfid=rfid,
    )


def build_simulated_kiosk(config: KioskConfig, *, journal_path: Path | None = None) -> Kiosk:
    """A kiosk whose transports are the simulator's; `kiosk.rig` holds the world's handles."""
    rig = sim_rig(config)
    return build_kiosk(config, rig.transports, journal_path=journal_path, rig=rig)


def diag_sim(
    fault: str | None,
    *,
    as_json: bool,
    config: KioskConfig | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Self-test on the simulator wired as `config` says (default: the packaged
    config), optionally with one simulated fault injected once the devices are built
    (their pins configured) and before they start, as a fault found at power-on."""
    config = config or load_config()
    rig = sim_rig(config)
    events: queue.Queue[object] = queue.Queue()  # nobody consumes device events here
    devices = build_devices(config, rig.transports, events.put)
    try:
        if fault:
            rig.inject_fault(fault)
        return report(run_self_test(devices), as_json=as_json, out=out)
    finally:
        devices.close()
