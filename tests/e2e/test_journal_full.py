"""A kiosk whose journal disk fills up while it serves (docs/fault-codes.md,
`journal-disk-full`): the real kiosk process with its real hub link over the lab's TLS
broker to the real hub worker, its journal on a filesystem of its own (a 512 KiB tmpfs)
that a filler file fills for real, so SQLite meets ENOSPC as on a full SD card.

What must hold: the reader is told nothing the journal does not keep (a book shown
"returned" has its row on disk, a book the journal could not take is shown refused with
the out-of-service words), the file is whole (integrity check) with no partial row, the
kiosk shows out of service with the fault code, and once space is back and the kiosk is
restarted (what docs/fault-codes.md tells the technician) every kept row reaches the
ledger once and the kiosk serves again.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.ledger.catalogue import item_barcode
from kiosk_tools.kiosk_child import KioskChild
from tests.e2e.test_durability import REGISTRY, kiosk_child, ledger_rows_for, online, rows, step

DISK_BYTES = 4 * 1024 * 1024
BOOKS = [item_barcode(REGISTRY, "xicheng", serial) for serial in range(11, 20)]  # on the shelf
AFTER = item_barcode(REGISTRY, "xicheng", 20)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_BYTES mounted at tmp_path/disk, unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"a small filesystem for the journal needs mount (root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the filesystem has no block left; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (64 * 1024, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        os.fsync(fd)
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


def journal_on_disk(path: Path) -> tuple[list[str], list[str]]:
    """(the items of every row, the integrity check) as another process reads the file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        items = [r[0] for r in conn.execute("SELECT item FROM rows ORDER BY seq")]
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return items, check


def statuses(child: KioskChild, barcode: str) -> list[str]:
    return [line["status"] for line in child.shown.lines.get(barcode, ())]


def test_a_journal_disk_that_fills_up_while_serving_loses_nothing_and_tells_the_reader(
    alliance, small_disk, tmp_path, poll
) -> None:
    kiosk_id = "e2e-journal-full"
    journal = small_disk / "journal.sqlite3"
    child = kiosk_child(alliance, journal, kiosk_id, tmp_path / "k.log")
    try:
        online(child, True)
        step(child, f"drop {BOOKS[0]}")
        assert child.wait_for(lambda s: "returned" in statuses(child, BOOKS[0]), 20)
        poll(lambda: [r["status"] for r in rows(child, BOOKS[0])] == ["acked"], 20, "the first return's ack")
        filler = fill(small_disk)  # the journal has nothing left to write until the next book

        # Books keep coming; the journal can take none of them, or a few it still has
        # room for in its own file, and then none: the kiosk stops taking them.
        dropped: list[str] = []
        for book in BOOKS[1:]:
            step(child, f"drop {book}")
            dropped.append(book)
            # Its line ends returned or refused; or, out of service already, the chute
            # refuses it at the door and no line is shown at all.
            assert child.wait_for(
                lambda s, b=book: bool({"returned", "refused"} & set(statuses(child, b)))
                or (s.view.get("screen") == "out_of_service" and not statuses(child, b)),
                20,
            ), f"{book}: neither returned nor refused; saw {statuses(child, book)}"
            if child.shown.view.get("screen") == "out_of_service":
                break
        view = child.shown.view
        assert (view.get("screen"), view.get("out_of_service_code")) == ("out_of_service", "journal-disk-full")

        told_returned = [b for b in [BOOKS[0], *dropped] if "returned" in statuses(child, b)]
        kept, check = journal_on_disk(journal)
        assert check == ["ok"]  # the file is whole
        assert kept == told_returned  # every "returned" the reader saw is on disk, and no other row
        not_kept = [b for b in dropped if b not in kept]
        assert not_kept, "the disk never filled: the test measured nothing"
        assert statuses(child, not_kept[0]), "the first book the journal could not keep was shown nothing"
        for book in [b for b in not_kept if statuses(child, b)]:  # refused, in words
            last = child.shown.lines[book][-1]
            assert (last["status"], last["reason_code"]) == ("refused", "out_of_service")
            assert last["message"] == {"zh": "本机暂停服务，未办理。", "en": "This kiosk is out of service: not done."}
    finally:
        child.quit()

    # Space is back; the technician restarts the kiosk (docs/fault-codes.md).
    filler.unlink()
    child = kiosk_child(alliance, journal, kiosk_id, tmp_path / "k.log")
    try:
        online(child, True)
        poll(
            lambda: all(r["status"] in ("acked", "exception") for b in kept for r in rows(child, b)),
            30, "the kept rows to be acked after the restart",
        )  # fmt: skip
        assert ledger_rows_for(alliance.db_url, kiosk_id) == len(kept)  # each once, none lost
        step(child, f"drop {AFTER}")
        assert child.wait_for(lambda s: "returned" in statuses(child, AFTER), 10)
        poll(lambda: ledger_rows_for(alliance.db_url, kiosk_id) == len(kept) + 1, 30, "the new return")
    finally:
        child.quit()
