"""Issue 16, finding 2, end to end: after scripts/install-pi.sh installed 0.1.0, an update
that never reports healthy, or whose updater is killed between the switch and its
verdict, ends with `current` on 0.1.0 again.

The real updater runs as a process of its own (`python -m updater --root`, as
alliance-kiosk-update.service runs it, with a bundle built here); under a staging root
it restarts nothing, so no kiosk reports health: exactly a release that never comes up.
The boot check is the installed unit's own ExecStartPre command line, run from the
`last-healthy` slot (whose venv, never built under --root, is played by this
interpreter)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.update.conftest import BROKEN, REPO, install_pi
from updater.layout import Layout
from updater.release import Bundle

# Each test installs a built bundle into a venv: a minute or more on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

INSTALLED = "0.1.0"  # the checkout's version: what install-pi.sh lays out


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _updater(root: Path, bundle: Bundle, deadline_s: float) -> list[str]:
    return [sys.executable, "-m", "updater", "--bundle", str(bundle.path),
            "--sha256", bundle.sha256, "--root", str(root), "--deadline", str(deadline_s)]  # fmt: skip


@pytest.fixture
def installed(tmp_path: Path) -> Layout:
    root = tmp_path / "root"
    install_pi(root, "--kiosk-id", "xicheng-3")
    layout = Layout(root)
    assert layout.current_version() == INSTALLED == layout.last_healthy_version()
    return layout


def test_an_update_that_never_reports_healthy_goes_back_to_the_installed_release(
    installed: Layout, bundles: dict[str, Bundle]
) -> None:
    done = subprocess.run(_updater(installed.root, bundles[BROKEN], 5), capture_output=True, text=True,
                          env=_env(), timeout=1200)  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert (result["result"], result["version"], result["previous"]) == ("rolled_back", BROKEN, INSTALLED)
    assert f"{BROKEN} no health report from it within 5 s" in result["reason"]
    assert f"rolling back to {INSTALLED}" in done.stderr
    assert installed.current_version() == INSTALLED == installed.last_healthy_version()
    assert json.loads(installed.result_file.read_text())["result"] == "rolled_back"
    assert not installed.pending_file.exists()


def _boot_check(layout: Layout) -> list[str]:
    """The installed alliance-kiosk.service's ExecStartPre, pointed into the staging root."""
    unit = (layout.root / "etc/systemd/system/alliance-kiosk.service").read_text()
    line = next(ln for ln in unit.splitlines() if ln.startswith("ExecStartPre="))
    command = shlex.split(line.removeprefix("ExecStartPre=").lstrip("-+"))
    assert command[0] == "/opt/alliance-kiosk/last-healthy/bin/kiosk-update"
    return [str(layout.root) + command[0], *command[1:], "--root", str(layout.root)]


def test_an_updater_killed_between_switch_and_verdict_is_undone_by_the_boot_check(
    installed: Layout, bundles: dict[str, Bundle], tmp_path: Path
) -> None:
    log = tmp_path / "updater.log"
    with log.open("wb") as out:
        updater = subprocess.Popen(_updater(installed.root, bundles[BROKEN], 900), stdout=out,
                                   stderr=subprocess.STDOUT, env=_env())  # fmt: skip
    try:
        end = time.monotonic() + 1200
        while "waiting up to 900 s" not in log.read_text() and time.monotonic() < end:
            assert updater.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        assert installed.current_version() == BROKEN, log.read_text()[-3000:]  # switched ...
        updater.send_signal(signal.SIGKILL)  # ... and killed before its verdict
        assert updater.wait(30) == -signal.SIGKILL
    finally:
        if updater.poll() is None:
            updater.kill()
            updater.wait()
    assert installed.current_version() == BROKEN and installed.last_healthy_version() == INSTALLED
    assert installed.pending_file.exists()
    # The boot: the unit's check, from the last healthy slot (its venv played by this one).
    venv_python = installed.releases / INSTALLED / "venv/bin/python"
    venv_python.parent.mkdir(parents=True, exist_ok=True)
    venv_python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    venv_python.chmod(0o755)
    boot = subprocess.run(_boot_check(installed), capture_output=True, text=True, env=_env(), timeout=120)
    assert boot.returncode == 0, boot.stderr
    assert installed.current_version() == INSTALLED == installed.last_healthy_version()
    recorded = json.loads(installed.result_file.read_text())
    assert (recorded["result"], recorded["version"], recorded["previous"]) == ("rolled_back", BROKEN, INSTALLED)
    assert "never judged healthy" in recorded["reason"]
    assert not installed.pending_file.exists()
    again = subprocess.run(_boot_check(installed), capture_output=True, text=True, env=_env(), timeout=120)
    assert again.returncode == 0 and "current is the last healthy release" in again.stderr
