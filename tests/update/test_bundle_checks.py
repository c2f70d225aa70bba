"""What the updater refuses before it changes anything (updater.bundle, updater.switch): a bundle
whose sha256 is not the one given, one whose members do not match its manifest, one
that tries to write outside its slot, and the running release itself. Each check reads
a real tar.gz; none needs a built release (those are in test_update_rollback.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from updater.bundle import file_sha256
from updater.layout import Layout
from updater.switch import update


def _bundle(path: Path, files: dict[str, bytes], *, version: str = "9.9.9",
            manifest_files: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None) -> str:  # fmt: skip
    """Write a bundle: `files` listed in the manifest as given in `manifest_files`
    (default: the same bytes) and put in the tar, plus `extra` members not listed."""
    listed = manifest_files if manifest_files is not None else files
    manifest = {
        "format": 1, "name": "alliance-kiosk", "version": version, "target": "native",
        "requirement": f"alliance-kiosk[pi]=={version}", "constraints": [],
        "files": [{"path": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in listed.items()],
    }  # fmt: skip
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {
            "manifest.json": json.dumps(manifest).encode(),
            **files,
            **(extra or {}),
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return file_sha256(path)


WHEEL = {"wheels/alliance_kiosk-9.9.9-py3-none-any.whl": b"not really a wheel"}


@pytest.fixture
def installed(tmp_path: Path) -> Layout:
    """A staging root whose current release is 1.0.0 (a slot with its manifest)."""
    layout = Layout(tmp_path / "root")
    slot = layout.releases / "1.0.0"
    slot.mkdir(parents=True)
    (slot / "manifest.json").write_text("{}")
    layout.current.symlink_to("releases/1.0.0")
    return layout


def _untouched(layout: Layout) -> None:
    assert os.readlink(layout.current) == "releases/1.0.0"
    assert sorted(p.name for p in layout.releases.iterdir()) == ["1.0.0"]


def _no_restart() -> None:
    raise AssertionError("a refused update must not restart the kiosk")


def test_a_bundle_whose_sha256_is_not_the_one_given_is_refused_before_unpacking(
    tmp_path: Path, installed: Layout
) -> None:
    bundle = tmp_path / "b.tar.gz"
    digest = _bundle(bundle, WHEEL)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    result = update(str(bundle), wrong, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "sha256-mismatch" in result.reason
    _untouched(installed)
    recorded = json.loads(installed.result_file.read_text())
    assert recorded["result"] == "refused" and recorded["previous"] == "1.0.0"


def test_a_member_altered_after_the_manifest_was_written_is_refused(
    tmp_path: Path, installed: Layout
) -> None:
    bundle = tmp_path / "b.tar.gz"
    name = next(iter(WHEEL))
    digest = _bundle(bundle, {name: b"altered bytes!!!!!"}, manifest_files=WHEEL)
    result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "does not match the manifest" in result.reason
    _untouched(installed)


@pytest.mark.parametrize(
    "member", ["../../etc/evil", "wheels/../../evil.whl", "/etc/evil", "venv/bin/python"]
)
def test_a_member_outside_the_manifest_or_the_slot_is_refused(
    tmp_path: Path, installed: Layout, member: str
) -> None:
    bundle = tmp_path / "b.tar.gz"
    digest = _bundle(bundle, WHEEL, extra={member: b"x"})
    result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "not a file listed in the manifest" in result.reason
    _untouched(installed)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "evil").exists()


def test_a_manifest_naming_a_path_outside_the_slot_is_refused(
    tmp_path: Path, installed: Layout
) -> None:
    bundle = tmp_path / "b.tar.gz"
    evil = {"wheels/../../x.whl": b"x"}
    digest = _bundle(bundle, evil)
    result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "not a plain bundle file" in result.reason
    _untouched(installed)


def test_a_bundle_of_the_running_release_is_refused(tmp_path: Path, installed: Layout) -> None:
    bundle = tmp_path / "b.tar.gz"
    digest = _bundle(bundle, WHEEL, version="1.0.0")
    result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "already-running" in result.reason
    _untouched(installed)


def test_a_truncated_bundle_is_refused(tmp_path: Path, installed: Layout) -> None:
    bundle = tmp_path / "b.tar.gz"
    _bundle(bundle, WHEEL)
    bundle.write_bytes(bundle.read_bytes()[:-40])
    result = update(str(bundle), file_sha256(bundle), layout=installed, restart=_no_restart)
    assert result.result == "refused" and "bad-bundle" in result.reason
    _untouched(installed)


def test_a_bundle_that_does_not_install_leaves_current_alone_and_no_slot(
    tmp_path: Path, installed: Layout
) -> None:
    """The sha256 and the manifest are right, but it holds no wheel of the release it
    names: the half-made slot goes (and one left by an earlier attempt), current stays."""
    bundle = tmp_path / "b.tar.gz"
    digest = _bundle(bundle, {"wheels/other-1.0-py3-none-any.whl": b"x"})
    half = installed.releases / "9.9.9"
    half.mkdir()
    (half / "left-over").write_text("from an earlier attempt that died")
    result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "failed" and "holds no alliance_kiosk-9.9.9 wheel" in result.reason, (
        result
    )
    _untouched(installed)


def test_a_second_updater_is_turned_away_while_one_runs(tmp_path: Path, installed: Layout) -> None:
    import fcntl

    bundle = tmp_path / "b.tar.gz"
    digest = _bundle(bundle, WHEEL)
    with (installed.base / ".update.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = update(str(bundle), digest, layout=installed, restart=_no_restart)
    assert result.result == "refused" and "another update is running" in result.reason
    assert not installed.result_file.exists()  # the running one's result is not overwritten
    _untouched(installed)
