"""The `make bench` figure for SD card wear: bytes written per txn, with its baselines,
measured on every machine: by the block device's count (`write_bytes`) where the file
system keeps one, and by the bytes handed to write() (`wchar`) everywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is run from the checkout (`make bench`), not installed
    sys.path.insert(0, str(ROOT))

from bench import sd_writes  # noqa: E402


def test_bytes_per_txn_are_measured_beside_their_baselines(tmp_path: Path) -> None:
    raw = sd_writes.measure(20, tmp_path)
    rows = sd_writes.rows(raw)
    assert raw["counter"] == ("write_bytes" if raw["block_counted"] else "wchar")
    assert raw["journal_record_per_txn"] > 0 and raw["bare_sqlite_per_txn"] > 0
    assert raw["journal_sent_acked_per_txn"] > 0
    assert raw["bare_append_fsync_per_txn"] <= raw["bare_sqlite_per_txn"]
    assert [r.figure.split(":")[0] for r in rows] == ["SD card"] * 3
    assert rows[0].ratio is not None and raw["counter"] in rows[0].note


def test_the_bytes_handed_to_write_are_counted_on_any_file_system(tmp_path: Path) -> None:
    """`wchar` needs no block device: the floor's append writes each payload and its
    newline, no more, and SQLite writes whole pages and a WAL frame header besides."""
    raw = sd_writes.measure(20, tmp_path, counter="wchar")
    assert raw["bare_append_fsync_per_txn"] == pytest.approx(raw["payload_bytes"] + 1, abs=0.5)
    assert raw["bare_sqlite_per_txn"] >= 4096 + 24
    assert raw["journal_record_per_txn"] > 0 and raw["journal_sent_acked_per_txn"] > 0
    assert "wchar" in sd_writes.rows(raw)[0].note
