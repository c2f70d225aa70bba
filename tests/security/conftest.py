"""Fixtures of the hub-side truth tests: a seeded ledger and an intake on a clock the test
moves (`clock`, `intake`), and a hub worker and kiosks on the lab's secure broker
(tests/security/wire_kiosk.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry
from hub.worker.intake import Intake
from tests.security.test_txn_checks import NOW
from tests.security.wire_kiosk import Clock, Kiosks, WireHub, hub_at, start_hub


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def ledger(tmp_path: Path, registry: Registry) -> Iterator[Ledger]:
    """A ledger of the demo catalogue, three books and readers per member."""
    with Ledger.open(f"sqlite:///{tmp_path}/truth.sqlite") as led:
        led.seed_demo(registry, per_member=3)
        yield led


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def intake(ledger: Ledger, registry: Registry, clock: Clock) -> Intake:
    return hub_at(ledger, registry, clock)


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
