"""The `make bench` figure for SD card wear: bytes written per txn, with its baselines."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is run from the checkout (`make bench`), not installed
    sys.path.insert(0, str(ROOT))

from bench import sd_writes  # noqa: E402


def test_bytes_per_txn_are_measured_beside_their_baselines(tmp_path: Path) -> None:
    raw = sd_writes.measure(20, tmp_path)
    rows = sd_writes.rows(raw)
    if not raw["counted"]:  # tmpfs or a container that does not count: it says so
        assert rows[0].value == "not measured"
        return
    assert raw["journal_record_per_txn"] > 0 and raw["bare_sqlite_per_txn"] > 0
    assert raw["bare_append_fsync_per_txn"] <= raw["bare_sqlite_per_txn"]
    assert [r.figure.split(":")[0] for r in rows] == ["SD card"] * 3
    assert rows[0].ratio is not None
