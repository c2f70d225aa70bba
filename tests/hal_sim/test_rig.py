"""The simulator is wired as the config says: its beams, outputs and the reader's reset
line sit on the configured pins, and the real devices are built by the same builder a
Pi uses, on the rig's transports."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    CardPresented,
    ChuteJammed,
    DeviceEvent,
    DeviceFault,
)
from firmware.config import KioskConfig, load_config
from firmware.devices import DeviceSet, build_devices
from hal_sim.rig import SimRig
from kiosk_tools.simulated import diag_sim, sim_rig

# None of these is a default pin (17, 27, 22, 23, 24, 25).
NON_DEFAULT_PINS = {
    "devices.chute.entry_pin": 5,
    "devices.chute.exit_pin": 6,
    "devices.card_reader.reset_pin": 26,
    "devices.outputs.flap_pin": 12,
    "devices.outputs.led_pin": 13,
    "devices.outputs.buzzer_pin": 16,
}
DEFAULT_PINS = (17, 27, 22, 23, 24, 25)
BOOK = "30102000000016"


class Kit:
    def __init__(self, config: KioskConfig) -> None:
        self.config = config
        self.rig: SimRig = sim_rig(config)
        self.events: queue.Queue[DeviceEvent] = queue.Queue()
        self.devices: DeviceSet = build_devices(config, self.rig.transports, self.events.put)

    def start(self) -> Kit:
        self.devices.start()
        assert self.devices.wait_ready(5)
        assert self.rig.desk.wait_opened(5) and self.rig.chute_scanner.wait_opened(5)
        return self

    def wait_for(self, wanted: Callable[[DeviceEvent], bool], timeout: float = 3.0) -> list[DeviceEvent]:
        """Events up to and including the first `wanted` one."""
        seen: list[DeviceEvent] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                break
            seen.append(event)
            if wanted(event):
                return seen
        raise AssertionError(f"not seen within {timeout} s; got {seen}")


@pytest.fixture
def kit() -> Iterator[Kit]:
    config = load_config(None, {**NON_DEFAULT_PINS, "devices.chute.jam_after_s": 0.3})
    kit = Kit(config).start()
    yield kit
    kit.devices.close()


def test_a_book_dropped_in_the_simulator_reaches_the_driver_on_the_configured_beam_pins(kit: Kit) -> None:
    kit.rig.drop(BOOK)
    seen = kit.wait_for(lambda e: isinstance(e, BookPassed))
    assert BarcodeRead(BOOK, "chute") in seen
    assert any(isinstance(e, BookEntered) for e in seen)
    for pin in (17, 27):
        assert len(kit.rig.pins.sim_pin(pin).states) == 1, f"GPIO{pin} is not the chute's here"


def test_a_jam_on_the_configured_entry_pin_is_reported_after_the_configured_time(kit: Kit) -> None:
    kit.rig.chute.jam("entry")
    jam = kit.wait_for(lambda e: isinstance(e, ChuteJammed))[-1]
    assert isinstance(jam, ChuteJammed) and jam.beam == "entry"


def test_a_beam_stuck_before_the_kiosk_starts_stays_stuck_on_the_configured_pin() -> None:
    config = load_config(None, NON_DEFAULT_PINS)
    rig = sim_rig(config)
    rig.chute.stick("entry")  # dirt on the lens at power-on, before the driver sets its pull
    events: queue.Queue[DeviceEvent] = queue.Queue()
    devices = build_devices(config, rig.transports, events.put)
    try:
        results = devices.chute.diagnose(rig.chute.exercise)
    finally:
        devices.close()
    assert [(r.ok, r.code) for r in results] == [(False, "beam-stuck")]


def test_the_outputs_drive_the_configured_pins_and_the_simulator_sees_them(kit: Kit) -> None:
    outputs = kit.devices.outputs
    outputs.set_route("transfer")
    outputs.show_status("ok")
    assert kit.rig.outputs.flap_diverted and kit.rig.outputs.light_on
    assert kit.rig.pins.sim_pin(12).state and kit.rig.pins.sim_pin(13).state
    outputs.set_route("shelve")
    assert not kit.rig.outputs.flap_diverted
    assert all(kit.rig.pins.sim_pin(pin).function == "input" for pin in DEFAULT_PINS)


def test_a_cut_output_wire_on_a_configured_pin_fails_the_output_self_test(kit: Kit) -> None:
    kit.rig.outputs.cut("flap")
    results = {r.device: r for r in kit.devices.outputs.diagnose()}
    assert (results["flap"].ok, results["flap"].code) == (False, "output-fault")
    assert results["status_led"].ok and results["buzzer"].ok


def test_the_configured_reset_pin_is_driven_high_and_pulsed_when_the_reader_opens(kit: Kit) -> None:
    deadline = time.monotonic() + 3
    while kit.rig.chip.hard_resets < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    nrstpd = kit.rig.pins.sim_pin(26)
    assert (nrstpd.function, nrstpd.state) == ("output", True)
    assert [s.state for s in nrstpd.states][:4] == [False, True, False, True]
    assert kit.rig.chip.hard_resets >= 1


def test_a_hung_reader_is_revived_through_the_configured_reset_pin(kit: Kit) -> None:
    card = kit.rig.tap("0110000012345")
    kit.wait_for(lambda e: isinstance(e, CardPresented))
    resets = kit.rig.chip.hard_resets
    kit.rig.chip.hang()
    deadline = time.monotonic() + 3
    while kit.rig.chip.hung and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not kit.rig.chip.hung, "the reader was not hard-reset through GPIO26"
    assert kit.rig.chip.hard_resets == resets + 1
    # Polls that found the card still there (the card counts the reader's calls): by the
    # eighth call (about two per poll) three polls have posted what they would. No quiet window.
    heard = card.calls
    deadline = time.monotonic() + 5
    while card.calls < heard + 8:
        assert time.monotonic() < deadline, "the revived reader stopped polling"
        time.sleep(0.01)
    later: list[DeviceEvent] = []
    while not kit.events.empty():
        later.append(kit.events.get())
    assert not [e for e in later if isinstance(e, DeviceFault | CardPresented)], later
    assert kit.devices.card_reader.present_uid == card.uid


def test_the_self_test_passes_on_non_default_pins() -> None:
    out = io.StringIO()
    config = load_config(None, NON_DEFAULT_PINS)
    assert diag_sim(None, as_json=True, config=config, out=out) == 0, out.getvalue()
    report = json.loads(out.getvalue())
    assert {d["device"] for d in report["devices"]} >= {"card_reader", "chute", "flap"}


def test_reader_silent_fault_is_not_cured_by_the_reset_line() -> None:
    out = io.StringIO()
    assert diag_sim("reader-silent", as_json=True, config=load_config(), out=out) == 1
    failed = [d for d in json.loads(out.getvalue())["devices"] if not d["ok"]]
    assert [(d["device"], d["code"]) for d in failed] == [("card_reader", "reader-silent")]


def test_closing_the_devices_releases_the_rigs_ptys() -> None:
    kit = Kit(load_config())
    ports = [kit.rig.desk.port, kit.rig.chute_scanner.port]
    assert all(os.path.exists(port) for port in ports)
    kit.devices.close()
    kit.devices.close()
    assert not any(os.path.exists(port) for port in ports)


def test_the_simulator_imports_no_kiosk_code() -> None:
    code = (
        "import sys, hal_sim.rig, hal_sim.scenario;"
        "assert not {m.split('.')[0] for m in sys.modules} & {'firmware', 'kiosk_ui', 'kiosk_tools', 'hub'}"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
