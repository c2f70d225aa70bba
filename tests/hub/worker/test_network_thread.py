"""A hub worker's paho thread survives an error in paho itself (contract/paho_thread.py):
the worker counts it, connects again and answers as before, instead of keeping its turn
in the share group while reading nothing (the broker would queue every other request for
it). On a TLS broker of this test alone, with a real worker and ledger."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from contract import messages, topics
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.worker.service import HubService
from tests.hub.worker.test_group_commit import a_return
from tests.hub.worker.test_service import Kiosk, valid_lookup
from tests.paho_faults import crash_loop_once
from tests.secure_clients import hub_settings


def test_an_error_inside_paho_costs_the_worker_a_reconnect_not_its_share(
    lab: Lab, own_broker: TlsMosquittoProcess, tmp_path: Path, registry: Registry,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path}/hub.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    service = HubService(own_broker.url, url, registry, "thread", config=hub_settings(lab, "thread")).start()
    kiosk = Kiosk(lab, own_broker, f"k-{secrets.token_hex(4)}")
    lookup = valid_lookup(registry)
    try:
        assert kiosk.request(lookup).ok
        assert service._client is not None
        assert crash_loop_once(service._client, RuntimeError("deque mutated during iteration")).wait(5)
        deadline = time.monotonic() + 10
        while service.stats.errors < 1:  # counted as a lost connection: subscribed again after it
            assert time.monotonic() < deadline, "the error was never counted"
            time.sleep(0.01)
        assert service.wait_subscribed(10), "never subscribed again"
        assert kiosk.request(lookup).ok, "the worker answers again after its reconnect"
        txn = messages.Txn.model_validate_json(a_return(registry, 1)).model_copy(update={"kiosk_id": kiosk.kiosk_id})
        kiosk.client.publish(topics.topic(kiosk.kiosk_id, "txn"), messages.encode(txn), qos=1)
        assert kiosk.ack(timeout=10).result == "committed"
        assert service.stats.errors == 1
    finally:
        kiosk.close()
        service.retire()
    assert "paho's network loop failed (RuntimeError: deque mutated during iteration); connecting again" in caplog.text
