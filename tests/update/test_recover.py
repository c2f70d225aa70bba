"""Issue 16, finding 2, the quick half: the boot check (`python -m updater --recover`) and
where a rollback goes, on a staging root with slots that hold only their installed mark (the
end-to-end runs with built bundles are in test_rollback_to_installed.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from updater.cli import main
from updater.layout import Layout
from updater.recover import recover
from updater.switch import rollback_target


def _slot(layout: Layout, version: str, *, whole: bool = True) -> None:
    slot = layout.releases / version
    slot.mkdir(parents=True)
    if whole:
        (slot / "manifest.json").write_text(json.dumps({"version": version}))


def _link(layout: Layout, name: str, version: str) -> None:
    path = layout.base / name
    path.unlink(missing_ok=True)
    path.symlink_to(f"releases/{version}")


@pytest.fixture
def unfinished(tmp_path: Path) -> Layout:
    """0.1.0 healthy; the updater switched to 0.2.0 and died before its verdict."""
    layout = Layout(tmp_path / "root")
    _slot(layout, "0.1.0")
    _slot(layout, "0.2.0")
    _link(layout, "last-healthy", "0.1.0")
    _link(layout, "current", "0.2.0")
    layout.pending_file.write_text(json.dumps({"version": "0.2.0", "previous": "0.1.0", "cmd_id": "c-42"}))
    return layout


def test_an_unfinished_switch_goes_back_to_the_last_healthy_release(unfinished: Layout) -> None:
    restarts: list[str] = []
    result = recover(unfinished, restart=lambda: restarts.append(unfinished.current_version() or ""))
    assert result is not None and result.result == "rolled_back"
    assert unfinished.current_version() == "0.1.0" == unfinished.last_healthy_version()
    assert restarts == ["0.1.0"]  # restarted once, already on the healthy release
    recorded = json.loads(unfinished.result_file.read_text())
    assert (recorded["result"], recorded["version"], recorded["previous"], recorded["cmd_id"]) == (
        "rolled_back", "0.2.0", "0.1.0", "c-42",
    )  # fmt: skip
    assert "0.2.0 was switched to but never judged healthy" in recorded["reason"]
    assert not unfinished.pending_file.exists()
    assert recover(unfinished) is None  # the second boot: nothing to do


def test_the_boot_check_leaves_a_healthy_current_alone(unfinished: Layout) -> None:
    _link(unfinished, "current", "0.1.0")
    assert recover(unfinished) is None
    assert unfinished.current_version() == "0.1.0"
    assert not unfinished.result_file.exists() and not unfinished.pending_file.exists()


def test_the_boot_check_does_nothing_while_an_updater_holds_the_lock(unfinished: Layout) -> None:
    """The kiosk's unit runs the check at every start, so also when the updater itself
    restarts the kiosk mid-update: that switch is the updater's to judge."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)",
         str(unfinished.base / ".update.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert recover(unfinished) is None
        assert unfinished.current_version() == "0.2.0" and unfinished.pending_file.exists()
    finally:
        holder.kill()
        holder.wait()
    assert recover(unfinished) is not None and unfinished.current_version() == "0.1.0"


@pytest.mark.parametrize("marker", ["missing", "half-installed"])
def test_the_boot_check_never_switches_to_a_release_that_is_not_whole(unfinished: Layout, marker: str) -> None:
    if marker == "missing":
        unfinished.last_healthy.unlink()
    else:
        _slot(unfinished, "0.1.5", whole=False)
        _link(unfinished, "last-healthy", "0.1.5")
    assert recover(unfinished) is None
    assert unfinished.current_version() == "0.2.0"


def test_a_rollback_goes_to_the_last_healthy_release_before_the_previous_one(unfinished: Layout) -> None:
    # An update to 0.3.0 while 0.2.0 (never judged) is current: back to 0.1.0.
    assert rollback_target(unfinished, "0.3.0", "0.2.0") == "0.1.0"
    unfinished.last_healthy.unlink()  # a layout from before the marker: the previous slot
    assert rollback_target(unfinished, "0.3.0", "0.2.0") == "0.2.0"
    assert rollback_target(unfinished, "0.2.0", "0.2.0") is None
    assert rollback_target(unfinished, "0.3.0", None) is None


def test_the_recover_command_prints_what_it_did(unfinished: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--recover", "--root", str(unfinished.root)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["result"] == "rolled_back"
    assert "never judged healthy: back to 0.1.0" in out.err
    assert main(["--recover", "--root", str(unfinished.root)]) == 0
    assert "current is the last healthy release (0.1.0)" in capsys.readouterr().err
