"""A hub worker's broker session (hub/worker/service.py, docs/ordering.md): one stable client id
per worker name, kept across restarts, ended only by `retire`, never shared by two
workers. Each test has its own secure Mosquitto (sessions outlive the workers that made
them); each worker connects as its lab identity, whose CN `hub-NAME` is its client id."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import messages, topics
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry
from hub.worker.service import HubService, client_id
from tests.secure_clients import hub_settings, secure_client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
KIOSK = "k-sessions"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def items(registry: Registry) -> list[str]:
    return [i.barcode for i in catalogue.generate_items(registry, per_member=2)][:40]


@pytest.fixture
def db_url(tmp_path: Path, registry: Registry) -> str:
    url = f"sqlite:///{tmp_path}/hub.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=2)
    return url


class KioskClient:
    """Publishes return txns as enrolled kiosk KIOSK and collects the hub's acks."""

    def __init__(self, lab: Lab, broker: MosquittoProcess) -> None:
        self.acks: queue.Queue[messages.Ack] = queue.Queue()
        ready = threading.Event()
        self.client = secure_client(lab, broker, KIOSK)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, msg: self.acks.put(
            messages.Ack.model_validate_json(msg.payload)
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe(topics.topic(KIOSK, "ack"), 1)
        assert ready.wait(5)
        self.sent = 0

    def returns(self, barcodes: list[str]) -> list[str]:
        txn_ids = []
        for barcode in barcodes:
            self.sent += 1
            txn = messages.Txn(
                txn_id=f"{KIOSK}-{self.sent:06d}", kiosk_id=KIOSK, library_id="capital",
                kind="return", item=barcode, at=datetime.now(UTC), mode="offline",
            )  # fmt: skip
            self.client.publish(topics.topic(KIOSK, "txn"), messages.encode(txn), qos=1).wait_for_publish(5)
            txn_ids.append(txn.txn_id)
        return txn_ids

    def acked(self, n: int, timeout_s: float = 10.0) -> set[str]:
        deadline = time.monotonic() + timeout_s
        got: set[str] = set()
        while len(got) < n:
            got.add(self.acks.get(timeout=max(0.01, deadline - time.monotonic())).txn_id)
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def kiosk(lab: Lab, own_broker: MosquittoProcess) -> Iterator[KioskClient]:
    k = KioskClient(lab, own_broker)
    yield k
    k.close()


@pytest.fixture
def worker(lab: Lab, own_broker: MosquittoProcess, db_url: str, registry: Registry) -> Callable[[str], HubService]:
    """Worker NAME on this test's broker and ledger, as the lab's hub identity NAME."""
    return lambda name: HubService(own_broker.url, db_url, registry, name, config=hub_settings(lab, name))


@pytest.fixture
def workers() -> Iterator[list[HubService]]:
    made: list[HubService] = []
    yield made
    for worker in made:
        worker.stop()


def test_the_client_id_is_the_worker_name_behind_the_hub_prefix() -> None:
    assert client_id("2") == "hub-2"
    assert client_id("kiosk-x").startswith("hub-"), "a worker can never take a kiosk's session"


def test_txns_published_while_the_only_worker_restarts_reach_it_when_it_is_back(
    own_broker: MosquittoProcess, db_url: str, registry: Registry, items: list[str],
    kiosk: KioskClient, workers: list[HubService], worker: Callable[[str], HubService],
) -> None:  # fmt: skip
    """Before, a restarting hub's txns were dropped by the broker (no subscriber) and
    came back only with the kiosk's resend, 10 s later, behind newer ones."""
    first = worker("solo").start()
    first.stop()
    txn_ids = kiosk.returns(items[:5])
    again = worker("solo").start()
    workers.append(again)
    assert kiosk.acked(5) == set(txn_ids)
    with Ledger.open(db_url) as led:
        assert led.ledger_counts(txn_ids) == dict.fromkeys(txn_ids, 1)


def test_a_retired_worker_leaves_the_group_and_its_queue_is_handled_first(
    own_broker: MosquittoProcess, db_url: str, registry: Registry, items: list[str],
    kiosk: KioskClient, workers: list[HubService], worker: Callable[[str], HubService],
) -> None:  # fmt: skip
    """A stopped worker keeps its share: txns wait for it. `retire` handles them, ends
    the session, and from then on the other worker gets every txn."""
    leaving = worker("leaving").start()
    staying = worker("staying").start()
    workers.append(staying)
    leaving.stop()
    waiting = kiosk.returns(items[:10])
    turns = kiosk.acked(5)  # the staying worker's turns; the rest wait for "leaving"

    leaving.start()
    leaving.retire()
    # What proves the rest waited (no quiet window): "leaving" handled exactly them, and
    # "staying" only its turns and, below, the later ten.
    assert leaving.stats.txns == 5
    assert staying.stats.txns == 5
    assert turns | kiosk.acked(5) == set(waiting)

    later = kiosk.returns(items[10:20])
    assert kiosk.acked(10) == set(later)
    assert staying.stats.txns == 15


def test_two_workers_under_one_name_throw_each_other_off_and_say_so(
    own_broker: MosquittoProcess, db_url: str, registry: Registry, workers: list[HubService],
    worker: Callable[[str], HubService], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Mosquitto 2.0 closes the older connection without a reason code when a second one
    takes its client id; paho reconnects and takes the session back, and so on."""
    first = worker("twin").start()
    workers.append(first)
    second = worker("twin").start()
    workers.append(second)
    deadline = time.monotonic() + 45  # a loaded machine slows paho's reconnects
    while not (first.name_clash.is_set() or second.name_clash.is_set()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.name_clash.is_set() or second.name_clash.is_set()
    assert "is another worker running as hub-twin?" in caplog.text


def test_cli_retire_ends_the_named_workers_session(
    lab: Lab, own_broker: MosquittoProcess, db_url: str, registry: Registry, items: list[str],
    kiosk: KioskClient, workers: list[HubService], worker: Callable[[str], HubService],
) -> None:  # fmt: skip
    gone = worker("gone").start()
    staying = worker("staying").start()
    workers.append(staying)
    gone.stop()
    argv = [
        sys.executable, "-m", "hub", "--config", str(lab.hub_config("gone")), "--broker", own_broker.url,
        "--worker", "gone", "retire", "--db", db_url,
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hub worker gone retired" in done.stdout
    later = kiosk.returns(items[:6])
    assert kiosk.acked(6) == set(later)
    assert staying.stats.txns == 6
