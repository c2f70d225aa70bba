"""`python -m firmware diag --sim`: the technician self-test, end to end through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_diag(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware", "diag", "--sim", "--json", *extra],
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
