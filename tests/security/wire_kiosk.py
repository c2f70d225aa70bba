"""An enrolled kiosk as an attacker drives it: raw MQTT on the lab's secure broker, sending
whatever payloads it likes on its own topics (the broker lets it publish nothing else),
and a real hub worker (`HubService`) on a clock the test can move forward; for the tests
on the ledger directly, an `Intake` on a clock the test sets (`Clock`, `hub_at`).

Used by the hub-side truth tests (test_hub_clock.py, test_offline_truth.py,
test_implausible_returns.py): what they prove, they prove over TLS, certificates and the
broker's roles, with the hub as `make run` starts it (enrolment, signing key)."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from hub.config import HubConfig
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from hub.worker.service import HubService
from tests.secure_clients import hub_settings, secure_client


class Clock:
    """The hub's clock in a test on the ledger: set `now`, and the intake reads it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def hub_at(ledger: Ledger, registry: Registry, clock: Clock, **settings: Any) -> Intake:
    """An intake (and its request answers) on `clock`, with the checks `[hub]` `settings`
    give (the defaults otherwise), as a worker builds them."""
    answers = RequestAnswers(ledger, registry, clock, rules.SHANGHAI, 3)
    checks = IntakeChecks.from_config(HubConfig(**settings))
    return Intake(ledger, registry, answers, clock, WorkerStats(), checks)


@dataclass
class HubClock:
    """Real time, moved forward by `shift` (the hub worker's clock in these tests)."""

    shift: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass
class WireHub:
    service: HubService
    clock: HubClock
    db_url: str

    @property
    def ledger(self) -> Ledger:
        assert self.service.ledger is not None
        return self.service.ledger


def start_hub(lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry, **settings: Any) -> WireHub:
    """A hub worker on the lab's broker with its own seeded ledger and a movable clock."""
    url = f"sqlite:///{tmp_path}/wire-{secrets.token_hex(3)}.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    worker = f"truth-{secrets.token_hex(3)}"
    clock = HubClock()
    service = HubService(
        broker.url, url, registry, worker, config=hub_settings(lab, worker, **settings), clock=clock
    ).start()
    return WireHub(service, clock, url)


@dataclass
class WireKiosk:
    """Enrolled kiosk `kiosk_id` of `library_id`, connected as itself, hearing its own
    `ack` and `resp`."""

    lab: Lab
    broker: MosquittoProcess
    kiosk_id: str
    library_id: str = "capital"
    _acks: queue.Queue[messages.Ack] = field(default_factory=queue.Queue)
    _resps: queue.Queue[tuple[bytes | None, bytes]] = field(default_factory=queue.Queue)
    _client: mqtt.Client | None = None

    def connect(self) -> WireKiosk:
        ready = threading.Event()
        subscribed: set[int] = set()
        client = secure_client(self.lab, self.broker, self.kiosk_id, self.library_id)

        def on_connect(cl: mqtt.Client, *_: Any) -> None:
            for leaf in ("ack", "resp"):
                subscribed.add(cl.subscribe(topics.topic(self.kiosk_id, leaf), 1)[1])

        def on_subscribe(_c: mqtt.Client, _u: Any, mid: int, codes: Any, _p: Any) -> None:
            subscribed.discard(mid)
            if not subscribed and not codes[0].is_failure:
                ready.set()

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if msg.topic.endswith("/ack"):
                self._acks.put(messages.Ack.model_validate_json(msg.payload))
            else:
                self._resps.put((getattr(msg.properties, "CorrelationData", None), msg.payload))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        assert ready.wait(10), f"{self.kiosk_id} could not subscribe to its ack and resp"
        self._client = client
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _publish(self, leaf: str, payload: bytes, properties: Properties | None = None, retain: bool = False) -> None:
        assert self._client is not None
        info = self._client.publish(topics.topic(self.kiosk_id, leaf), payload, qos=1, properties=properties, retain=retain)
        info.wait_for_publish(5)

    def send_txn(self, doc: dict[str, Any], timeout: float = 10.0) -> messages.Ack:
        """Publish one txn and wait for its ack."""
        self._publish("txn", json.dumps(doc).encode())
        while True:
            ack = self._acks.get(timeout=timeout)
            if ack.txn_id == doc["txn_id"]:
                return ack

    def ask(self, request: messages._Msg, timeout: float = 10.0) -> messages.Response:
        """Send a request and wait for the hub's answer on this kiosk's own `resp`."""
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.topic(self.kiosk_id, "resp")
        corr = secrets.token_bytes(8)
        props.CorrelationData = corr
        self._publish("req", messages.encode(request), props)
        while True:
            got, payload = self._resps.get(timeout=timeout)
            if got == corr:
                return messages.Response.model_validate_json(payload)

    def telemetry(self, at: datetime) -> None:
        self._publish("telemetry", messages.encode(messages.Telemetry(at=at, journal_pending=0)))

    def state(self, state: str) -> None:
        doc = messages.KioskState(state=state, library_id=self.library_id, at=datetime.now(UTC))  # type: ignore[arg-type]
        self._publish("state", messages.encode(doc))

    def txn_doc(self, kind: str, item: str, card: dict[str, str] | None, at: datetime, **changes: Any) -> dict[str, Any]:
        """A txn of this kiosk; offline unless `mode` says otherwise."""
        doc: dict[str, Any] = {
            "v": 1, "txn_id": f"{self.kiosk_id}-{secrets.token_hex(6)}", "kiosk_id": self.kiosk_id,
            "library_id": self.library_id, "kind": kind, "item": item, "at": at.isoformat(), "mode": "offline",
        }  # fmt: skip
        if card is not None:
            doc["card"] = card
        doc.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()})
        return {k: v for k, v in doc.items() if v is not None}


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll `predicate` (a message the hub handles has no ack to wait for: telemetry, state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@dataclass
class Kiosks:
    """Connected wire kiosks, closed at the end of the test."""

    lab: Lab
    broker: MosquittoProcess
    opened: list[WireKiosk] = field(default_factory=list)

    def __call__(self, library_id: str = "capital", prefix: str = "k-wire") -> WireKiosk:
        kiosk = WireKiosk(self.lab, self.broker, f"{prefix}-{secrets.token_hex(3)}", library_id).connect()
        self.opened.append(kiosk)
        return kiosk

    def close(self) -> None:
        for kiosk in self.opened:
            kiosk.close()
