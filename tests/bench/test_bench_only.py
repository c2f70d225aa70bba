"""`python -m bench --only STEP`: one step runs and is written, nothing else starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is run from the checkout (`make bench`), not installed
    sys.path.insert(0, str(ROOT))

import bench.__main__ as bench_main  # noqa: E402


def test_only_the_named_step_runs_and_no_broker_starts(tmp_path: Path, monkeypatch) -> None:
    started: list[str] = []

    def no_broker():
        started.append("secure broker")  # main() catches what a broker start raises: record it
        raise RuntimeError("not in this test")

    monkeypatch.setattr("bench.endpoints.secure_endpoint", no_broker)
    monkeypatch.setattr(bench_main.logging, "basicConfig", lambda **_: None)  # pytest keeps its logging
    out = tmp_path / "results.json"
    assert bench_main.main(["--only", "rfid_inventory", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert list(written["raw"]) == ["rfid_inventory"] and written["only"] == ["rfid_inventory"]
    assert written["rows"] and all(r["figure"].startswith("RFID pad") for r in written["rows"])
    assert started == []


def test_an_unknown_step_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("bench.endpoints.secure_endpoint", lambda: (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(bench_main.logging, "basicConfig", lambda **_: None)
    out = tmp_path / "results.json"
    assert bench_main.main(["--only", "no_such_step", "--out", str(out)]) == 2
    assert not out.exists()
