"""A hub worker with `[sip2]`: its drainer thread sends what a member's system is owed
once the system is back, and `python -m hub status` shows each system's link."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contract import messages
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.rules.registry import Registry
from hub.sip2.settings import Sip2Settings
from hub.worker.service import HubService
from tests.hub.ils.conftest import BOOK, OTHER_BOOK, Ils
from tests.secure_clients import hub_settings


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def return_txn(n: int, item: str) -> bytes:
    txn = messages.Txn(
        txn_id=f"R{n:04d}-kd-00000",
        kiosk_id="kd",
        library_id="dongcheng",
        kind="return",
        item=item,
        at=datetime.now(UTC),
        mode="offline",
    )
    return messages.encode(txn)


def test_the_workers_drainer_sends_queued_checkins_once_when_the_system_is_back(
    lab: Lab, broker: MosquittoProcess, registry: Registry, ils: Ils, tmp_path: Path
):
    # Two books out at the ILS, as if lent before the outage.
    assert ils.sim is not None
    for item in (BOOK, OTHER_BOOK):
        assert ils.sim.circulation.checkout("0101000060018", item).ok
    db = f"sqlite:///{tmp_path}/hub.sqlite"
    settings = Sip2Settings({"east": ils.system()}, {"dongcheng": "east"})
    service = HubService(
        broker.url, db, registry, "ils-drainer", config=hub_settings(lab, "ils-drainer").model_copy(update={"pki_dir": None}), sip2=settings
    ).start()
    try:
        assert service.ils is not None and set(service.drainers) == {"east"}
        ils.stop()
        assert service.intake is not None
        for n, item in enumerate((BOOK, OTHER_BOOK), start=1):
            [ack] = service.intake.handle_txn("kd", return_txn(n, item))
            assert ack.result == "committed"
        assert service.ledger is not None
        assert wait_for(lambda: service.ledger.ils_links(("east",))[0].state == "down")

        status = subprocess.run(
            [sys.executable, "-m", "hub", "status", "--db", db, "--json"], capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0, status.stderr
        [east] = json.loads(status.stdout)["sip2_systems"]
        assert (east["system"], east["link"], east["queued"]) == ("east", "down", 2)
        assert east["last error"] != "-"

        ils.start()
        assert wait_for(lambda: service.ledger.ils_links(("east",))[0].queued == 0, timeout=60)
        assert [(r.item, r.ok) for r in ils.journal.requests("09")] == [(BOOK, "1"), (OTHER_BOOK, "1")]
        time.sleep(0.5)
        assert ils.journal.count("09") == 2  # once each
        table = subprocess.run(
            [sys.executable, "-m", "hub", "status", "--db", db], capture_output=True, text=True, timeout=60
        )
        assert "east" in table.stdout and "QUEUED" in table.stdout
    finally:
        service.retire()
