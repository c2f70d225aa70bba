"""The shipped scenario files, split in two lists so their two test files run in
parallel under `make test` (`-n 2 --dist loadfile` gives each file to one worker): the
desk and chute scenarios, and those of the newer devices and services (the RFID pad,
holds, e-cards, book drops and vans)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALL = sorted((REPO / "scenarios").glob("*.txt"))
NEWER_PREFIXES = ("pad_", "hold_", "ecard", "book_drop", "van_")
NEWER = [p for p in ALL if p.stem.startswith(NEWER_PREFIXES)]
DESK_AND_CHUTE = [p for p in ALL if p not in NEWER]
