"""How long the demo catalogue takes to generate, next to the floor of building as many
records in the same run.

`generate_items` runs at every `hub seed` and demo start (about 25,000 items). The
floor is constructing the same number of `ItemRecord`s from fixed values: what any
generator pays for the records alone, so the ratio is what titles, barcodes with check
digits and the random states add. This was a 1.5 s threshold in
tests/hub/ledger/test_catalogue.py (issue 21): a threshold is a benchmark, not a test.
"""

from __future__ import annotations

import time
from typing import Any

from bench.report import Row, ratio
from hub.ledger.catalogue import generate_items
from hub.rules.registry import load_registry
from hub.rules.rules import ItemRecord


def measure(rounds: int = 3) -> dict[str, Any]:
    """{"items", "generate_s", "floor_s"}: the best of `rounds` of each."""
    registry = load_registry()
    generate, floor, count = [], [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = sum(1 for _ in generate_items(registry))
        generate.append(time.perf_counter() - started)
        started = time.perf_counter()
        records = [ItemRecord("30101000000017", "平凡的世界", "capital", "on_shelf") for _ in range(count)]
        floor.append(time.perf_counter() - started)
        del records
    return {"items": count, "generate_s": round(min(generate), 4), "floor_s": round(min(floor), 4)}


def rows(raw: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"demo catalogue: {raw['items']:,} items generated",
            f"{raw['generate_s'] * 1000:.0f} ms ({raw['items'] / raw['generate_s']:,.0f}/s)",
            f"{raw['floor_s'] * 1000:.0f} ms building as many ItemRecords",
            ratio(raw["generate_s"], raw["floor_s"]),
            "lower",
            "best of 3; titles, check digits and states against bare record construction",
        )
    ]
