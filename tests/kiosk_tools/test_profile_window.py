"""A book drop has no screen: whatever the command line asks, the kiosk takes the
headless path and opens no Kivy window; a kiosk and a van open one unless `--headless`."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.config import load_config
from kiosk_tools.app import wants_window
from kiosk_tools.cli import _kiosk_parser

REPO = Path(__file__).resolve().parents[2]


def args(*argv: str):
    return _kiosk_parser().parse_args(["--sim", *argv])


def test_the_book_drop_scenario_config_never_opens_a_window() -> None:
    config = load_config(REPO / "scenarios" / "book_drop.toml")
    assert config.kiosk.profile == "book_drop"
    assert not wants_window(args(), config)
    assert not wants_window(args("--headless"), config)


@pytest.mark.parametrize("profile", ["kiosk", "van"])
def test_a_kiosk_or_van_opens_one_unless_headless(profile: str) -> None:
    config = load_config(None, {"kiosk.profile": profile})
    assert wants_window(args(), config)
    assert not wants_window(args("--headless"), config)
