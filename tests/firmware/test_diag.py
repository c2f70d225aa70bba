"""`python -m kiosk_tools diag --sim`: the technician self-test, end to end through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_diag(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "diag", "--sim", "--json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_simulated_device_passes_and_exit_status_is_zero() -> None:
    proc = run_diag()
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert report["ok"] is True
    devices = {d["device"]: d for d in report["devices"]}
    assert {"card_reader", "scanner", "chute_scanner", "chute"} <= devices.keys()
    assert all(d["ok"] and d["code"] == "ok" for d in devices.values())
    assert "test card" in devices["card_reader"]["detail"]
    assert "read back" in devices["scanner"]["detail"]


@pytest.mark.parametrize(
    ("fault", "device"),
    [
        ("reader-silent", "card_reader"),
        ("scanner-unplugged", "scanner"),
        ("chute-scanner-unplugged", "chute_scanner"),
        ("beam-stuck", "chute"),
    ],
)
def test_a_simulated_fault_fails_the_self_test_naming_device_and_code(fault: str, device: str) -> None:
    proc = run_diag("--sim-fault", fault)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert report["ok"] is False
    failed = [d for d in report["devices"] if not d["ok"]]
    code = "scanner-unplugged" if fault.endswith("scanner-unplugged") else fault
    assert [(d["device"], d["code"]) for d in failed] == [(device, code)]
    assert failed[0]["hint"], "a technician gets a plain-language hint"


def test_unknown_fault_name_is_a_usage_error() -> None:
    proc = run_diag("--sim-fault", "gremlins")
    assert proc.returncode == 2
    assert "reader-silent" in proc.stderr


def test_diag_reports_each_scanners_kind_and_path_and_the_printers_fault(tmp_path) -> None:
    """A keyboard-mode desk scanner that is unplugged, a serial chute scanner and a
    printer out of paper: each line names the kind, the path and what is wrong."""
    import io
    import queue

    from drivers.receipt_printer import SerialPrinterLink
    from firmware.config import load_config
    from firmware.devices import build_devices
    from firmware.diag import report, run_self_test
    from hal_sim.printer_pty import SimulatedPrinter
    from kiosk_tools.simulated import sim_rig
    from tests.drivers.test_hid_scanner import RecordedDevice

    hid_path = "/dev/input/by-id/usb-desk-scanner-event-kbd"
    with SimulatedPrinter() as printer:
        config = load_config(
            None,
            {
                "devices.scanner.kind": "hid",
                "devices.scanner.device": hid_path,
                "devices.printer.kind": "serial",
                "devices.printer.port": printer.port,
            },
        )
        rig = sim_rig(config)
        scanner = RecordedDevice()
        scanner.present = False
        rig.transports.desk_input, rig.transports.open_input = hid_path, scanner.open
        rig.transports.printer = SerialPrinterLink(printer.port)
        printer.paper_out()
        events: queue.Queue[object] = queue.Queue()
        devices = build_devices(config, rig.transports, events.put)
        try:
            results = run_self_test(devices, ready_timeout_s=0.5)
        finally:
            devices.close()
    by_device = {r.device: r for r in results}
    desk, chute, paper = by_device["scanner"], by_device["chute_scanner"], by_device["printer"]
    assert (desk.ok, desk.code) == (False, "scanner-unplugged")
    assert desk.detail.startswith(f"hid {hid_path}: absent (cannot open {hid_path}")
    assert chute.ok and chute.detail.startswith("test scan read back on serial ")
    assert (paper.ok, paper.code) == (False, "printer-paper-out")
    out = io.StringIO()
    assert report(results, as_json=False, out=out) == 1
    text = out.getvalue()
    assert f"FAIL  scanner        scanner-unplugged      hid {hid_path}: absent" in text
    assert "FAIL  printer        printer-paper-out" in text
    assert "Put in a new roll" in text


def test_the_screens_self_test_reads_the_card_on_the_reader_as_diag_reads_its_test_card() -> None:
    """At the technician screen the staff card lies on the reader. The self-test used to
    lay the test card beside it ("several cards in the field; card read not tested")
    and then clear the field, technician's card and all. It reads the card that is
    there, the line has diag's shape, and the technician's card stays."""
    import queue

    from contract.card_schemes import make_card_number
    from firmware.config import load_config
    from firmware.devices import build_devices, summarise
    from kiosk_tools.simulated import sim_rig

    config = load_config()
    rig = sim_rig(config)
    devices = build_devices(config, rig.transports, queue.Queue().put)
    try:
        devices.start()
        devices.wait_ready(5.0)
        staff = rig.tap(make_card_number("staff", 1))
        [reader] = [r for r in summarise(devices.self_test()) if r.device == "card_reader"]
        assert reader.ok
        assert "several cards" not in reader.detail and "not tested" not in reader.detail
        assert f"test card {staff.uid.hex()} read" in reader.detail
        assert rig.chip.field.cards == (staff,)
    finally:
        devices.close()
