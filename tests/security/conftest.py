"""Fixtures of the hub-side truth tests on the lab's secure broker (tests/security/wire_kiosk.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.rules.registry import load_registry
from tests.security.wire_kiosk import Kiosks, WireHub, start_hub


@pytest.fixture
def wire_hub(lab: Lab, broker: MosquittoProcess, tmp_path: Path) -> Iterator[WireHub]:
    """A hub worker with its own seeded ledger on the session's secure broker."""
    hub = start_hub(lab, broker, tmp_path, load_registry())
    yield hub
    hub.service.retire()


@pytest.fixture
def kiosks(lab: Lab, broker: MosquittoProcess) -> Iterator[Kiosks]:
    """`kiosks(library)` connects another enrolled wire kiosk; all are closed at the end."""
    opened = Kiosks(lab, broker)
    yield opened
    opened.close()
