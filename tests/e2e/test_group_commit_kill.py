"""A hub worker process SIGKILLed in the middle of a txn flood, its commit thread mid-batch
(hub/worker/group_commit.py), on the lab's secure setup: every txn it acked is in the
ledger, nothing is committed twice, and its broker session alone hands the restarted
worker every txn it had not finished (its PUBACKs follow its commits), so all are acked
without a single resend from the kiosk."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from contract import messages, topics
from hub.lab.lab import Lab
from hub.ledger.catalogue import item_barcode
from hub.rules.registry import load_registry
from tests.e2e.conftest import Alliance, ledger_counts, wait_until
from tests.secure_clients import secure_client

KIOSK = "e2e-flood"
N = 1500


class FloodingKiosk:
    """An enrolled kiosk's bare MQTT client: publishes txns, keeps every ack it gets."""

    def __init__(self, lab: Lab, world: Alliance) -> None:
        self.acks: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        subscribed = threading.Event()
        client = secure_client(lab, world.broker, KIOSK, "capital")
        client.on_connect = lambda c, *_: c.subscribe(topics.topic(KIOSK, "ack"), 1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = self._on_ack
        client.connect("127.0.0.1", world.broker.port)
        client.loop_start()
        assert subscribed.wait(10), "the kiosk could not subscribe to its acks"
        self.client = client

    def _on_ack(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        ack = messages.Ack.model_validate_json(msg.payload)
        with self._lock:
            self.acks.setdefault(ack.txn_id, []).append(ack.result)

    def acked(self) -> dict[str, list[str]]:
        with self._lock:
            return {txn_id: list(results) for txn_id, results in self.acks.items()}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def flood(n: int) -> list[messages.Txn]:
    """n offline returns a chute's pace apart, up to now (as `make bench` sends them)."""
    registry = load_registry()
    start = datetime.now(UTC) - timedelta(seconds=3 * n)
    return [
        messages.Txn(
            txn_id=f"{KIOSK}-{k:08d}",
            kiosk_id=KIOSK,
            library_id="capital",
            kind="return",
            item=item_barcode(registry, "capital", 1 + k % 300),
            at=start + timedelta(seconds=3 * k),
            mode="offline",
        )
        for k in range(n)
    ]


def test_a_worker_killed_mid_flood_loses_nothing_it_acked_and_commits_nothing_twice(
    make_alliance: Callable[..., Alliance], lab: Lab
) -> None:
    world = make_alliance()
    kiosk = FloodingKiosk(lab, world)
    txns = flood(N)
    try:
        publisher = threading.Thread(
            target=lambda: [
                kiosk.client.publish(topics.topic(KIOSK, "txn"), messages.encode(t), qos=1) for t in txns
            ],
            daemon=True,
        )
        publisher.start()
        wait_until(lambda: len(kiosk.acked()) >= 300, 60, "300 acks")
        world.hub.kill()  # mid-flood: batches committing, more queued behind them
        time.sleep(0.5)  # acks already at the broker still reach the kiosk
        acked_before = kiosk.acked()
        assert len(acked_before) < N, "the flood was over before the kill: nothing was tested"

        counts = ledger_counts(world.db_url, list(acked_before))
        lost = [txn_id for txn_id, count in counts.items() if count != 1]
        assert not lost, f"{len(lost)} txns were acked but are not in the ledger once: {lost[:5]}"
        assert all(results[0] == "committed" for results in acked_before.values())

        publisher.join(60)
        world.hub.start()  # its session: the unfinished txns come back to it, marked dup
        try:
            wait_until(lambda: len(kiosk.acked()) == N, 60, f"all {N} acks from the session alone")
        except BaseException:
            missing = sorted(set(t.txn_id for t in txns) - set(kiosk.acked()))
            counts = ledger_counts(world.db_url, missing)
            print(f"{len(missing)} never acked (first {missing[:3]}), in the ledger: "
                  f"{sum(1 for c in counts.values() if c)}; the restarted worker's log:\n{world.hub.log_text()[-4000:]}")
            raise
    finally:
        kiosk.close()

    counts = ledger_counts(world.db_url, [t.txn_id for t in txns])
    assert set(counts.values()) == {1}, "a txn committed twice or not at all"
    acked = kiosk.acked()
    assert all(results[0] in ("committed", "duplicate") for results in acked.values())
    assert all(r == "duplicate" for results in acked.values() for r in results[1:])
