"""The lazy disk really loses what was not synced, and keeps what was: without this the
power-loss test (tests/e2e/test_power_loss.py) could pass on a disk that kept everything."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from hal_sim.lazy_disk_mount import LazyDisk


def write(path: Path, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_a_power_cut_keeps_synced_bytes_and_loses_the_rest(lazy_disk: LazyDisk) -> None:
    card = lazy_disk.mountpoint
    write(card / "kept", b"synced", sync=True)
    write(card / "kept", b" then closed unsynced", sync=False)
    write(card / "never", b"closed without fsync", sync=False)
    fd = os.open(card / "datasync", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"fdatasync'd")
    os.fdatasync(fd)
    os.close(fd)
    # Before the cut the mount shows every write, as a page cache would.
    assert (card / "kept").read_bytes() == b"synced then closed unsynced"
    assert (card / "never").read_bytes() == b"closed without fsync"

    lazy_disk.power_cut()
    assert (lazy_disk.backing / "kept").read_bytes() == b"synced"
    lazy_disk.remount()

    assert (card / "kept").read_bytes() == b"synced"
    assert (card / "never").read_bytes() == b""  # the name survives, its data does not
    assert (card / "datasync").read_bytes() == b"fdatasync'd"


def test_a_truncate_is_lost_too_until_synced(lazy_disk: LazyDisk) -> None:
    card = lazy_disk.mountpoint / "file"
    write(card, b"0123456789", sync=True)
    os.truncate(card, 4)
    assert card.read_bytes() == b"0123"
    lazy_disk.power_cut()
    lazy_disk.remount()
    assert card.read_bytes() == b"0123456789"


@pytest.mark.parametrize(("synchronous", "rows_left"), [("FULL", 50), ("NORMAL", 0), ("OFF", 0)])
def test_sqlite_commits_survive_the_cut_only_when_synced(
    lazy_disk: LazyDisk, synchronous: str, rows_left: int
) -> None:
    """WAL with synchronous=FULL fsyncs the WAL at every commit: all 50 survive. With
    NORMAL (sync only at checkpoint) or OFF the commits lived in the cache only."""
    path = lazy_disk.mountpoint / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (n INTEGER)")  # synced: the table is there after the cut
    conn.execute(f"PRAGMA synchronous={synchronous}")
    for n in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (n,))
    lazy_disk.power_cut()
    conn.close()  # on a dead mount: nothing more reaches the flash
    lazy_disk.remount()

    with sqlite3.connect(path) as again:
        left = again.execute("SELECT count(*) FROM t").fetchone()[0]
    assert left == rows_left


def test_a_held_fsync_neither_returns_nor_syncs_and_the_cut_loses_its_data(
    lazy_disk: LazyDisk,
) -> None:
    """What the power-loss test relies on to cut at the worst moment: the writes are
    taken, their fsync is under way, and the power goes."""
    path = lazy_disk.mountpoint / "held"
    write(path, b"synced", sync=True)
    lazy_disk.hold_syncs()
    outcome: list[object] = []

    def append_and_sync() -> None:
        try:
            write(path, b" held", sync=True)
            outcome.append("returned")
        except OSError as exc:  # the dead mount answers the waiting fsync
            outcome.append(exc.errno)

    writer = threading.Thread(target=append_and_sync, daemon=True)
    writer.start()
    assert lazy_disk.wait_for_held_sync(10) == "/held"
    assert path.read_bytes() == b"synced held"  # taken, not yet durable
    assert outcome == []  # the fsync has not returned
    lazy_disk.power_cut()
    writer.join(10)
    assert outcome and outcome != ["returned"]
    lazy_disk.remount()
    assert path.read_bytes() == b"synced"


def test_released_syncs_go_through(lazy_disk: LazyDisk) -> None:
    path = lazy_disk.mountpoint / "late"
    lazy_disk.hold_syncs()
    writer = threading.Thread(target=write, args=(path, b"late"), kwargs={"sync": True})
    writer.start()
    assert lazy_disk.wait_for_held_sync(10) == "/late"
    lazy_disk.release_syncs()
    writer.join(10)
    assert not writer.is_alive()
    lazy_disk.power_cut()
    assert (lazy_disk.backing / "late").read_bytes() == b"late"
