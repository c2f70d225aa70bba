"""A hub worker told to stop stops, whatever its PostgreSQL does: here the server freezes
under the commit thread's batch and under paho's thread handling a kiosk's state (their
backends SIGSTOPped while their INSERTs wait on a lock of the test's), and the worker
must still end within 15 s with exit 0, saying what it left. Found by the
chaos soak (bench/chaos.py --postgres): a worker whose stop waited on its database had
to be SIGKILLed. Nothing is lost: the txn left in the batch was neither acked nor
PUBACKed, so the broker hands it to the worker again when it comes back, and it is
committed once."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from contract import messages, topics
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.lab.postgres_process import PostgresCluster
from hub.ledger import catalogue
from hub.rules.registry import load_registry
from hub.worker.worker_process import WorkerProcess, start_hub_worker, worker_args
from tests.postgres_server import private_cluster
from tests.secure_clients import secure_client

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STOP_BOUND_S = 15.0


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A private server of this test alone: it is frozen, never the machine's or the session's."""
    with private_cluster("stop") as server:
        yield server


def kiosk(lab: Lab, broker: TlsMosquittoProcess, kiosk_id: str, acks: queue.Queue[messages.Ack]) -> mqtt.Client:
    ready = threading.Event()
    client = secure_client(lab, broker, kiosk_id, "capital")
    client.on_socket_open = lambda cl, ud, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topics.topic(kiosk_id, "ack"), 1)
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = lambda cl, ud, msg: acks.put(messages.Ack.model_validate_json(msg.payload))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert ready.wait(10)
    return client


def backend_waiting_on(conn: psycopg.Connection, table: str, timeout_s: float) -> int:
    """The pid of the backend whose `INSERT INTO table` waits for our lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE %s AND pid <> pg_backend_pid()",
            (f"INSERT INTO {table} %",),
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError(f"no insert waited on {table} within {timeout_s:g} s")


def test_a_worker_stops_in_time_when_postgresql_freezes_under_its_batch_and_loses_nothing(
    lab: Lab, own_broker: TlsMosquittoProcess, cluster: PostgresCluster, tmp_path: Path
) -> None:
    broker = own_broker  # its own: the stopped worker's session stays in the share group
    log_path = tmp_path / "hub.log"
    args = worker_args(broker.url, cluster.url, "pgstop1", lab.hub_config("pgstop1", seed_per_member=5))
    kiosk_id = f"k-{secrets.token_hex(3)}-stop"
    item = next(i.barcode for i in catalogue.generate_items(load_registry(), per_member=5) if i.home_library == "capital")
    txn = messages.Txn(txn_id=f"{kiosk_id}-000001", kiosk_id=kiosk_id, library_id="capital", kind="return",
                       item=item, at=datetime.now(UTC), mode="offline")  # fmt: skip
    acks: queue.Queue[messages.Ack] = queue.Queue()
    child: WorkerProcess | None = start_hub_worker(args, log_path=log_path)
    client = kiosk(lab, broker, kiosk_id, acks)
    frozen: list[int] = []
    try:
        with psycopg.connect(cluster.url) as holder, psycopg.connect(cluster.url, autocommit=True) as look:
            # Not autocommit: the locks last until the rollback. Reads go on; inserts wait.
            holder.execute("LOCK TABLE txns, fleet IN SHARE MODE")
            client.publish(topics.topic(kiosk_id, "txn"), messages.encode(txn), qos=1)
            frozen.append(backend_waiting_on(look, "txns", 20.0))  # the commit thread's batch
            state = messages.KioskState(state="online", library_id="capital", at=datetime.now(UTC))
            client.publish(topics.topic(kiosk_id, "state"), messages.encode(state), qos=1)
            frozen.append(backend_waiting_on(look, "fleet", 20.0))  # paho's thread, in its handler
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)  # the server freezes under both
            holder.rollback()  # only the freeze holds them now
        started = time.monotonic()
        code = child.stop(timeout_s=STOP_BOUND_S)
        took = time.monotonic() - started
        child = None
        assert code == 0, f"the worker did not stop by itself within {STOP_BOUND_S:g} s (exit {code}, {took:.1f} s)"
        assert took < STOP_BOUND_S
        said = log_path.read_text(errors="replace")
        assert "1 txn(s) left unsettled" in said, said[-2000:]
        assert acks.empty(), "an ack for a txn whose batch never committed"
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen.clear()
        # Nothing lost: the worker's session hands the txn back, and it is committed once.
        child = start_hub_worker(args, log_path=log_path)
        ack = acks.get(timeout=30)
        assert (ack.txn_id, ack.result) == (txn.txn_id, "committed")
        with psycopg.connect(cluster.url) as conn:
            count = conn.execute("SELECT count(*) FROM txns WHERE txn_id = %s", (txn.txn_id,)).fetchone()
        assert count == (1,)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        client.loop_stop()
        client.disconnect()
        if child is not None:
            child.stop()
