"""The files the kiosk and the root updater share: one atomic writer that fsyncs
(contract.atomic_files) and one definition of the health file (contract.health_file)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import health_file
from contract.atomic_files import write_atomic
from contract.health_file import Health, HealthFileError


def test_the_writer_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observed on the real calls (each still goes to the OS): a power cut after the
    rename finds the new contents, and the rename itself is on disk."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "health.json"
    write_atomic(target, "new\n", 0o640)
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    temp = Path(events[0][1])
    assert temp.parent == tmp_path and temp.name.startswith(".health.json.")
    assert events[1][1] == str(target) and events[2][1] == str(tmp_path)
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["health.json"]


def test_a_write_that_cannot_land_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a directory where the file would go: the rename fails
    (tmp_path / "taken" / "keep").write_text("kept")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", b"x")
    assert (tmp_path / "taken" / "keep").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def _health(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "version": "0.1.1", "ready": True, "link_online": True, "selftest_ok": True,
        "selftest_failed": [], "at": "2026-12-07T14:10:00.123456+00:00", "pid": 1234,
    }  # fmt: skip
    data.update(changes)
    return data


def test_what_the_kiosk_writes_is_what_the_updater_parses(tmp_path: Path) -> None:
    written = Health("0.1.1", True, False, False, datetime.now(UTC), ("scanner:S01",), pid=7)
    health_file.write(tmp_path / "health.json", written)
    assert Health.parse((tmp_path / "health.json").read_bytes()) == written
    assert stat.S_IMODE((tmp_path / "health.json").stat().st_mode) == 0o644  # root reads it
    on_disk = json.loads((tmp_path / "health.json").read_text())
    assert set(on_disk) == {"version", "ready", "link_online", "selftest_ok", "selftest_failed", "at", "pid"}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"ready": "yes"}, "ready"),
        ({"link_online": 1}, "link_online"),
        ({"selftest_ok": "true"}, "selftest_ok"),
        ({"version": 11}, "version"),
        ({"at": "2026-12-07T14:10:00"}, "time zone"),
        ({"at": "yesterday"}, "time zone"),
        ({"selftest_failed": "scanner"}, "selftest_failed"),
        ({"pid": True}, "pid"),
    ],
)
def test_a_health_file_not_in_the_kiosks_format_is_refused_naming_the_field(
    changes: dict[str, object], says: str
) -> None:
    with pytest.raises(HealthFileError, match=says):
        Health.parse(json.dumps(_health(**changes)))


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b" " * (health_file.MAX_BYTES + 1)])
def test_a_health_file_that_is_not_a_json_object_is_refused(data: bytes) -> None:
    with pytest.raises(HealthFileError):
        Health.parse(data)


def test_a_self_test_not_run_yet_is_null_and_survives_the_round_trip() -> None:
    health = Health.parse(json.dumps(_health(selftest_ok=None, pid=None)))
    assert health.selftest_ok is None and health.pid is None
    assert Health.parse(health.to_json()) == health
