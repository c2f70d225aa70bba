"""Every shipped scenario of the newer devices and services (the RFID pad, holds,
e-cards, book drops and vans: tests/e2e/scenario_files.NEWER) passes against a real
broker, a real hub and the simulator; a file of its own so it runs beside
test_scenarios.py under `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.scenario_files import NEWER, assert_scenario_passes


def test_the_newer_scenarios_are_there() -> None:
    assert len(NEWER) >= 7  # five pad scenarios and two hold pickups at least


@pytest.mark.slow
@pytest.mark.parametrize("script", NEWER, ids=[p.stem for p in NEWER])
def test_shipped_scenario_passes(alliance, script: Path) -> None:
    assert_scenario_passes(alliance, script)
