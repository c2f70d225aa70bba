"""The updater is its own program (issue 17, item 3): its entries, the one health file
the kiosk writes and the updater judges, and a root run that imports nothing the
kiosk's user left in its working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.health_file import Health
from firmware.health import HealthReporter
from updater.verdict import health_file_probe, verdict

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        (["-m", "updater", "--help"], "python -m updater"),
        (["-m", "kiosk_tools", "update", "--help"], "python -m kiosk_tools update"),
        (["-m", "kiosk_tools", "release", "--help"], "python -m kiosk_tools release"),
        (["-m", "updater", "release", "--help"], "python -m kiosk_tools release"),
    ],
)
def test_every_entry_to_the_updater_answers(command: list[str], prog: str) -> None:
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          env=_env(), cwd=REPO, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {prog}")


def test_the_updater_is_packaged_with_every_release() -> None:
    """The wheel a bundle (or install-pi.sh's pip install) builds holds `updater`, as
    setuptools finds packages from pyproject.toml; test_update_rollback.py installs such
    a bundle, whose slot must then import `updater.cli` in isolated mode."""
    import tomllib

    from setuptools import find_namespace_packages

    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = find_namespace_packages(str(REPO), include=find["include"])
    assert {"updater", "contract", "firmware"} <= set(found)


def _poll(probe: Callable[[], Health | None], until: str, timeout: float = 20.0) -> Health:
    end = time.monotonic() + timeout
    seen = None
    while time.monotonic() < end:
        seen = probe()
        if seen is not None and verdict(seen) == until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the updater never judged {until!r}; last report: {seen}")


def test_the_health_file_the_kiosk_writes_is_the_one_the_updater_judges(tmp_path: Path) -> None:
    online = [True]
    path = tmp_path / "state" / "health.json"
    reporter = HealthReporter(path, link_online=lambda: online[0], self_test=lambda: [],
                              version="9.9.9", check_every_s=0.05).start()  # fmt: skip
    try:
        probe = health_file_probe(path)
        first = probe()
        assert first is not None and verdict(first) == "not ready, self-test not run yet"
        reporter.mark_ready()
        healthy = _poll(probe, "healthy")
        assert (healthy.version, healthy.pid) == ("9.9.9", os.getpid())
        online[0] = False
        _poll(probe, "not link online")
    finally:
        reporter.stop()


def test_a_health_file_that_is_a_link_or_a_fifo_is_no_report(tmp_path: Path) -> None:
    """The kiosk's user writes the state directory: root follows no link out of it and
    never blocks on a FIFO planted there."""
    good = tmp_path / "elsewhere.json"
    good.write_text(Health("1", True, True, True, datetime.now(UTC)).to_json())
    assert health_file_probe(good)() is not None
    link = tmp_path / "health.json"
    link.symlink_to(good)
    assert health_file_probe(link)() is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert health_file_probe(fifo)() is None


def test_the_root_launcher_imports_nothing_from_the_kiosks_working_directory(tmp_path: Path) -> None:
    """alliance-kiosk.service runs the boot check as root in /var/lib/alliance-kiosk, the
    kiosk user's own directory: a `updater` package or a `json.py` it leaves there must
    not be what root runs (`python -m` would put the working directory first)."""
    release = tmp_path / "release"
    (release / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "deploy/kiosk-update", release / "bin/kiosk-update")
    python = release / "venv/bin/python"  # the slot's venv, played by this interpreter
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    state = tmp_path / "var-lib-alliance-kiosk"
    (state / "updater").mkdir(parents=True)
    marker = tmp_path / "planted-code-ran-as-root"
    plant = f"open({str(marker)!r}, 'w').write('yes')\n"
    for name in ("updater/__init__.py", "updater/__main__.py", "json.py", "contract.py"):
        (state / name).write_text(plant)
    done = subprocess.run(
        ["sh", str(release / "bin/kiosk-update"), "--recover", "--root", str(tmp_path / "root")],
        cwd=state, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert not marker.exists(), "code the kiosk's user planted ran in the root updater"
    assert done.returncode == 0, done.stderr
    assert "nothing to recover" in done.stderr  # the real updater ran
