"""The self-test against the real devices of a Pi: the MFRC522 on SPI0, both scanners,
the chute's beams and the outputs. Skipped off a Raspberry Pi (`/proc/device-tree/model`).

Run on the kiosk, with the kiosk service stopped (it holds the devices) and a test card
on the reader: `sudo systemctl stop alliance-kiosk; .venv/bin/pytest -m hardware
tests/field`. The config is $ALLIANCE_KIOSK_CONFIG, else /etc/alliance-kiosk/kiosk.toml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = Path("/proc/device-tree/model")
ROOT = Path(__file__).resolve().parents[2]


def pi_model() -> str | None:
    try:
        model = MODEL.read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return None
    return model if model.startswith("Raspberry Pi") else None


pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(pi_model() is None, reason="not a Raspberry Pi (no /proc/device-tree/model)"),
]


def _config_path() -> Path:
    path = Path(os.environ.get("ALLIANCE_KIOSK_CONFIG", "/etc/alliance-kiosk/kiosk.toml"))
    if not path.is_file():
        pytest.skip(f"no kiosk config at {path} (set ALLIANCE_KIOSK_CONFIG)")
    return path


@pytest.fixture(scope="module")
def results() -> list[object]:
    """One self-test of the real devices, shared by the tests below."""
    from firmware.config import load_config
    from firmware.devices import build_devices
    from firmware.diag import run_self_test
    from firmware.hardware import pi_transports

    config = load_config(_config_path())
    events: list[object] = []
    devices = build_devices(config, pi_transports(config), events.append)
    try:
        return list(run_self_test(devices))
    finally:
        devices.close()


@pytest.mark.parametrize("device", ["card_reader", "scanner", "chute_scanner", "chute"])
def test_each_device_is_tested_and_passes(results: list[object], device: str) -> None:
    found = [r for r in results if getattr(r, "device", None) == device]
    assert found, f"{device}: no self-test result (seen: {[getattr(r, 'device', r) for r in results]})"
    result = found[0]
    assert result.ok, f"{device}: {result.code}: {result.detail}\n  what to do: {result.hint}"  # type: ignore[attr-defined]


def test_the_fitted_outputs_pass(results: list[object]) -> None:
    """Flap, status light and buzzer: each one configured (a pin set) must toggle."""
    outputs = [r for r in results if getattr(r, "device", None) in ("flap", "status_led", "buzzer")]
    failed = [f"{r.device}: {r.code}: {r.detail}" for r in outputs if not r.ok]  # type: ignore[attr-defined]
    assert failed == []


def test_the_technicians_diag_command_passes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "diag", "--json", "--config", str(_config_path())],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    report = json.loads(out.stdout)
    failed = [d for d in report["devices"] if not d["ok"]]
    assert out.returncode == 0 and report["ok"], json.dumps(failed, ensure_ascii=False, indent=2)
