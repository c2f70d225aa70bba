"""README's walk-through as a newcomer plays it (issue 19 item 6): ask `python -m hub
demo` what the first demo card can borrow, scan the first book it lists for the Capital
Library at the Capital Library's kiosk, and it is lent; `hub demo` then no longer offers it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def demo_offers(db_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--db", db_url, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)["borrowable"]


@pytest.mark.slow
def test_the_first_book_hub_demo_offers_at_the_capital_library_is_lent(
    alliance, tmp_path: Path
) -> None:
    offers = demo_offers(alliance.db_url)
    card = offers["card"]
    capital = next(lib for lib in offers["libraries"] if lib["library"] == "capital")
    book = capital["books"][0]["barcode"]
    script = tmp_path / "newcomer.txt"
    script.write_text(
        f"tap {card['number']}\nexpect screen pin\npin {card['pin']}\nexpect screen borrow\n"
        f"scan {book}\nexpect loan {book}\npress finish\n",
        encoding="utf-8",
    )
    code, output = alliance.run_script(script)
    assert code == 0, output
    after = demo_offers(alliance.db_url)
    capital_after = next(lib for lib in after["libraries"] if lib["library"] == "capital")
    assert book not in [b["barcode"] for b in capital_after["books"]]
