"""The configured security unit is built and wired into the real kiosk assembly on the
simulator: a loan pulses the desensitiser pin for `pulse_ms`, a return pulses the
resensitiser before the flap moves, a serial unit passes the self-test on its pty,
and kind "none" builds nothing. These fail if `build_devices`, `build_kiosk` or
`sim_rig` stop wiring `[security]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.barcodes import make_item_barcode
from drivers.events import BarcodeRead, BookEntered, BookPassed, CardPresented
from firmware.assembly import Kiosk, build_kiosk
from firmware.config import load_config
from hal_sim.em_unit import SimulatedEmGpioUnit, SimulatedEmSerialUnit
from kiosk_tools.simulated import sim_rig
from tests.firmware.test_device_wiring import AnsweringHub, close, play

JOINT = "0101000012345"
BOOK = make_item_barcode("0002", 1)
XICHENG = make_item_barcode("0102", 9)
GPIO = {"security.kind": "em_gpio", "security.unsecure_pin": 5, "security.secure_pin": 6,
        "security.confirm_pin": 13, "security.pulse_ms": 60}


def kiosk(tmp_path: Path, overrides: dict[str, Any]) -> Kiosk:
    config = load_config(None, {"journal.path": str(tmp_path / "journal.sqlite3"), **overrides})
    rig = sim_rig(config)
    built = build_kiosk(config, rig.transports, rig=rig)
    built.runtime.link = AnsweringHub(built.runtime)
    return built


def test_a_loan_pulses_the_desensitiser_and_a_return_resensitises_before_the_flap(
    tmp_path: Path,
) -> None:
    built = kiosk(tmp_path, GPIO)
    try:
        unit = built.rig.security_unit
        assert isinstance(unit, SimulatedEmGpioUnit)
        timeline: list[tuple[str, bool]] = []
        for name, pin in (("secure", 6), ("flap", 22)):
            built.rig.pins.sim_pin(pin).watch(lambda level, name=name: timeline.append((name, level)))
        runtime = built.runtime
        play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()), BarcodeRead(BOOK))
        [line] = runtime.view.items
        assert (line.status, line.message) == ("loaned", None)  # confirmed by the unit
        [pulse] = unit.pulses
        assert pulse.action == "unsecure" and 0.06 <= pulse.length_s < 0.06 + 0.05

        # The hub's answer names no route: the kiosk routes by the alliance's member
        # list, and a Xicheng book goes to transfer, so the flap moves.
        play(runtime, BookEntered(1.0), BarcodeRead(XICHENG, source="chute"),
             BookPassed(at=1.3, transit_ms=300))
        assert [p.action for p in unit.pulses] == ["unsecure", "secure"]
        assert timeline[:3] == [("secure", True), ("secure", False), ("flap", True)], timeline
    finally:
        close(built)


def test_a_serial_unit_is_built_on_the_simulators_pty_and_passes_the_self_test(
    tmp_path: Path,
) -> None:
    built = kiosk(tmp_path, {"security.kind": "em_serial", "security.timeout_ms": 300})
    try:
        unit = built.rig.security_unit
        assert isinstance(unit, SimulatedEmSerialUnit)
        security = built.runtime.devices.security
        assert security is not None
        [result] = security.diagnose()
        assert result.ok, result
        unit.mode = "silent"
        [result] = security.diagnose()
        assert (result.ok, result.code) == (False, "security-no-answer")
        assert unit.commands == ["RESENS", "RESENS"]
    finally:
        close(built)


def test_kind_none_builds_no_unit_and_touches_no_security(tmp_path: Path) -> None:
    built = kiosk(tmp_path, {})
    try:
        assert built.runtime.devices.security is None
        assert built.rig.security_unit is None
        assert not built.runtime.core_config.security
    finally:
        close(built)


def test_the_rfid_convention_reaches_the_core_only_with_a_reader_to_write_tags() -> None:
    from firmware.assembly import core_config_from

    pad = {"devices.rfid_pad.kind": "pn5180", "devices.rfid_pad.busy_pin": 26}
    fitted = core_config_from(load_config(None, {**pad, "rfid.data_model": "iso28560-3", "rfid.security": "eas"}))
    assert (fitted.tag_data_model, fitted.tag_security) == ("iso28560-3", True)
    no_gate = core_config_from(load_config(None, {**pad, "rfid.security": "none"}))
    assert no_gate.tag_security is False
    no_reader = core_config_from(load_config(None, {"rfid.security": "afi"}))
    assert no_reader.tag_security is False
