"""Two hub workers on one ledger and one broker share the load and still commit every
txn exactly once, however often and to whichever worker it is delivered. The broker is
the secure one, and this test's own (`own_broker`): the shared subscription must split
the txns between exactly these two workers, never with a worker another test left on
the session's broker. The workers and the kiosks (one enrolled per member library)
connect as their lab identities."""

from __future__ import annotations

import queue
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from contract import messages, topics
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.secure_clients import hub_settings, secure_client

N = 120


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any, registry: Registry) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.sqlite"
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"
        url = f"{base}?schema={schema}"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=5)
    yield url
    if request.param == "postgresql":
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def kiosk_client(
    lab: Lab, broker: MosquittoProcess, kiosk_id: str, library_id: str, acks: queue.Queue[messages.Ack]
) -> mqtt.Client:
    """Kiosk `kiosk_id`, enrolled for `library_id`, subscribed to its acks."""
    ready = threading.Event()
    c = secure_client(lab, broker, kiosk_id, library_id)
    c.on_socket_open = lambda cl, ud, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topics.topic(kiosk_id, "ack"), 1)
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, ud, msg: acks.put(messages.Ack.model_validate_json(msg.payload))
    c.max_inflight_messages_set(100)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert ready.wait(5)
    return c


def test_each_txn_delivered_twice_and_to_both_workers_commits_once(
    lab: Lab, own_broker: MosquittoProcess, db_url: str, registry: Registry
) -> None:
    broker = own_broker
    workers = [
        HubService(broker.url, db_url, registry, f"w{i}", config=hub_settings(lab, f"w{i}")).start()
        for i in (1, 2)
    ]
    run = secrets.token_hex(3)
    libraries = ["capital", "xicheng", "dongcheng", "chaoyang"]
    kiosk_ids = {library: f"k-{run}-{library}" for library in libraries}  # a kiosk serves one library
    acks: queue.Queue[messages.Ack] = queue.Queue()
    clients = {library: kiosk_client(lab, broker, kiosk_ids[library], library, acks) for library in libraries}
    try:
        items = [i.barcode for i in catalogue.generate_items(registry, per_member=5)][:N]
        txns = [
            messages.Txn(txn_id=f"{kiosk_ids[libraries[n % 4]]}-{n:06d}", kiosk_id=kiosk_ids[libraries[n % 4]],
                         library_id=libraries[n % 4], kind="return", item=item, at=datetime.now(UTC),
                         mode="offline")
            for n, item in enumerate(items)
        ]
        direct: list[messages.Ack] = []
        threads = []
        for n, t in enumerate(txns):
            raw = messages.encode(t)
            topic = topics.topic(t.kiosk_id, "txn")
            client = clients[t.library_id]
            client.publish(topic, raw, qos=1)
            client.publish(topic, raw, qos=1)
            if n % 10 == 0:  # and straight into both workers at once, racing the broker's copies
                for w in workers:
                    th = threading.Thread(
                        target=lambda w=w, raw=raw, k=t.kiosk_id: direct.extend(w.intake.handle_txn(k, raw))
                    )
                    th.start()
                    threads.append(th)
        for th in threads:
            th.join(10)
        got: dict[str, list[str]] = defaultdict(list)
        deadline = time.monotonic() + 30
        while sum(len(v) for v in got.values()) < 2 * N and time.monotonic() < deadline:
            ack = acks.get(timeout=max(0.1, deadline - time.monotonic()))
            got[ack.txn_id].append(ack.result)
        for ack in direct:
            got[ack.txn_id].append(ack.result)
        assert len(got) == N
        for txn_id, results in got.items():
            assert Counter(results)["committed"] == 1, (txn_id, results)
            assert set(results) <= {"committed", "duplicate"}
        with Ledger.open(db_url) as led:
            assert doors.txn_rows(led) == N
            per_item = Counter(r[0] for r in led.db.query("SELECT item FROM transfers"))
            assert max(per_item.values(), default=1) == 1
        assert all(w.stats.txns > 0 for w in workers), "the shared subscription should use both workers"
        assert sum(w.stats.errors for w in workers) == 0
    finally:
        for client in clients.values():
            client.disconnect()
            client.loop_stop()
        for w in workers:
            w.retire()  # leave no session behind
