"""The kiosk's command is `python -m kiosk_tools`, in the composition root it starts, so
no layer contract needs an exception for it (issue 17), and the Pi's launcher starts
that command (docs/architecture.md, "Layer rules, and why"; docs/pi.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIOSK = ("contract", "drivers", "firmware", "kiosk_ui")


def test_no_layer_contract_ignores_an_import_of_the_kiosk() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ignored = [
        rule
        for contract in config["tool"]["importlinter"]["contracts"]
        for rule in contract.get("ignore_imports", [])
        if rule.split(" -> ")[0].split(".")[0] in KIOSK
    ]
    assert ignored == []
    assert not (ROOT / "firmware/__main__.py").exists(), "the kiosk's command is in kiosk_tools"


def test_python_m_kiosk_tools_runs_the_kiosk_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "--help"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m kiosk_tools ")
    assert "--sim" in done.stdout


def test_the_pi_launcher_starts_the_kiosk_command_with_its_release_python(tmp_path: Path) -> None:
    """A release as install-pi.sh and the updater lay it out: `bin/kiosk-launch` beside
    `venv/bin/python`; the unit's arguments reach the kiosk's command line."""
    release = tmp_path / "releases/0.1.0"
    (release / "bin").mkdir(parents=True)
    (release / "venv/bin").mkdir(parents=True)
    shutil.copy2(ROOT / "deploy/kiosk-launch", release / "bin/kiosk-launch")
    (release / "venv/bin/python").symlink_to(sys.executable)
    (tmp_path / "current").symlink_to("releases/0.1.0")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "KIOSK_DRI_BY_PATH": str(tmp_path / "no-dri"),
    }
    done = subprocess.run(
        [str(tmp_path / "current/bin/kiosk-launch"), "diag", "--help"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m kiosk_tools diag ")
