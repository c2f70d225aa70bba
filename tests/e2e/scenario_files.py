"""The shipped scenario files, split in two lists so their two test files run in
parallel under `make test` (`-n 2 --dist loadfile` gives each file to one worker): the
desk and chute scenarios, and those of the newer devices and services (the RFID pad,
holds, e-cards, book drops and vans)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ALL = sorted((REPO / "scenarios").glob("*.txt"))
NEWER_PREFIXES = ("pad_", "hold_", "ecard", "book_drop", "van_")
NEWER = [p for p in ALL if p.stem.startswith(NEWER_PREFIXES)]
DESK_AND_CHUTE = [p for p in ALL if p not in NEWER]


def assert_scenario_passes(alliance: Any, script: Path) -> None:
    """Play `script` on the session's alliance: it exits 0 and says every step held."""
    code, output = alliance.run_script(script)
    assert code == 0, output
    assert "PASS: all" in output
