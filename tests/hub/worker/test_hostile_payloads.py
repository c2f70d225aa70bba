"""Whatever bytes arrive on a txn or req topic, the worker survives, writes nothing, and
never logs a card number.

On the secure broker the realistic attacker is a compromised enrolled kiosk: it sends
the hostile payloads on its own topics, and the broker refuses those over its size limit
(`hub.pki.broker_config.MESSAGE_SIZE_LIMIT`) and any topic not its own. What only an
anonymous or misconfigured broker lets through (a card number where the kiosk id
belongs, payloads over the limit) is sent on a plain broker of its own, since the worker
must survive it all the same."""

from __future__ import annotations

import json
import logging
import queue
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.card_schemes import make_card_number
from hub.lab.broker_process import MosquittoProcess, TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.pki.broker_config import MESSAGE_SIZE_LIMIT
from hub.rules.registry import Registry, load_registry
from hub.worker.service import HubService
from tests.secure_clients import hub_settings, secure_client

SECRET_CARD = make_card_number("bj-joint", 7654321)
KIOSK = "hostile-kiosk"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)


def valid_txn() -> dict[str, Any]:
    return {
        "v": 1, "txn_id": f"hostile-{secrets.token_hex(6)}", "kiosk_id": KIOSK, "library_id": "capital",
        "kind": "loan", "card": {"scheme": "bj-joint", "number": SECRET_CARD},
        "item": "30002000000018", "at": datetime.now(UTC).isoformat(), "mode": "offline",
    }


def valid_request() -> dict[str, Any]:
    return {"v": 1, "op": "checkout_auth", "card": {"scheme": "bj-joint", "number": SECRET_CARD},
            "item": "30002000000018", "library_id": "capital"}


REQUIRED_STR = ["txn_id", "kiosk_id", "library_id", "kind", "item", "mode"]
wrong_types = st.integers() | st.lists(json_values, max_size=3) | st.dictionaries(st.text(max_size=5), json_values,
                                                                                   max_size=3) | st.none()


@st.composite
def wrong_typed_txn(draw: st.DrawFn) -> bytes:
    doc = valid_txn()
    doc[draw(st.sampled_from(REQUIRED_STR))] = draw(wrong_types)
    if draw(st.booleans()):
        doc["card"] = {"scheme": "bj-joint", "number": draw(st.sampled_from([SECRET_CARD + "!", 12345678, [SECRET_CARD]]))}
    return json.dumps(doc).encode()


@st.composite
def wrong_typed_request(draw: st.DrawFn) -> bytes:
    doc = valid_request()
    doc[draw(st.sampled_from(["op", "card", "item", "library_id", "v"]))] = draw(wrong_types)
    return json.dumps(doc).encode()


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    doc = draw(st.sampled_from([valid_txn(), valid_request()]))
    doc[draw(st.sampled_from(["item", "library_id", "extra"]))] = SECRET_CARD * draw(st.integers(50, 3000))
    return json.dumps(doc).encode()


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(100, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return (opener * depth + "1" + closer * depth).encode()


hostile = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    wrong_typed_txn(),
    wrong_typed_request(),
    huge(),
    deep(),
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def private_broker(lab: Lab) -> Iterator[TlsMosquittoProcess]:
    """A secure broker of this module alone: on the shared one, other tests' kiosks
    publish state and telemetry that the hub rightly records as fleet rows."""
    proc = lab.broker().start()
    yield proc
    proc.close()


@contextmanager
def _captured_logs() -> Iterator[_Records]:
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)


class _Publisher:
    """A client subscribed to KIOSK's acks and answers, that records the broker's PUBACK
    reason code of each of its publishes."""

    def __init__(self, client: mqtt.Client, port: int) -> None:
        self.client = client
        self.answers: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.pubacks: dict[int, Any] = {}
        ready = threading.Event()
        client.on_socket_open = lambda cl, ud, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe([(topics.topic(KIOSK, "ack"), 1),
                                                                    (topics.topic(KIOSK, "resp"), 1)])
        client.on_subscribe = lambda *a: ready.set()
        client.on_message = lambda cl, ud, msg: self.answers.put((msg.topic, msg.payload))
        client.on_publish = lambda cl, ud, mid, reason, pr: self.pubacks.__setitem__(mid, reason)
        client.connect("127.0.0.1", port)
        client.loop_start()
        assert ready.wait(5)

    def publish(self, topic_name: str, payload: bytes) -> Any:
        """QoS 1 publish; the PUBACK's reason code."""
        info = self.client.publish(topic_name, payload, qos=1)
        info.wait_for_publish(5)
        assert info.mid in self.pubacks, f"no PUBACK for a {len(payload)}-byte publish on {topic_name}"
        return self.pubacks.pop(info.mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def setup(
    lab: Lab, private_broker: TlsMosquittoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    broker = private_broker
    registry: Registry = load_registry()
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile')}/hub.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    with _captured_logs() as records:
        # The barrage is a flood of requests from one kiosk: lift the per-kiosk rate limit
        # (tests/security/test_txn_checks.py tests it) so every payload reaches the intake.
        config = hub_settings(lab, "hostile", request_burst=100_000)
        service = HubService(broker.url, url, registry, "hostile", config=config).start()
        kiosk = _Publisher(secure_client(lab, broker, KIOSK), broker.port)  # enrolled, compromised
        yield {"service": service, "kiosk": kiosk, "records": records, "registry": registry, "db_url": url,
               "lab": lab}
        kiosk.close()
        service.retire()


def _still_answers(setup: dict[str, Any], kiosk: _Publisher | None = None) -> messages.Response:
    """A valid request after the barrage: same publisher, same worker, so it is handled
    after every hostile message before it."""
    kiosk = kiosk or setup["kiosk"]
    corr = secrets.token_bytes(6)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topics.topic(KIOSK, "resp")
    props.CorrelationData = corr
    item = catalogue.item_barcode(setup["registry"], "capital", 1)
    kiosk.client.publish(topics.topic(KIOSK, "req"),
                         messages.encode(messages.ReturnRoute(op="return_route", item=item, library_id="capital")),
                         qos=1, properties=props)
    while True:
        topic, payload = kiosk.answers.get(timeout=10)
        if topic.endswith("/resp"):
            resp = messages.Response.model_validate_json(payload)
            if resp.route is not None:
                return resp


def _assert_nothing_written(ledger: Ledger | None) -> None:
    assert ledger is not None
    for table in ("txns", "loans", "exceptions", "transfers", "fleet"):
        assert ledger.count(table) == 0, table


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(payload=hostile)
def test_hostile_payloads_handled_directly_never_raise_or_write(setup: dict[str, Any], payload: bytes) -> None:
    service: HubService = setup["service"]
    acks = service.intake.handle_txn(KIOSK, payload)
    assert all(ack.result == "rejected" for ack in acks) and len(acks) <= 1
    resp = service.intake.handle_request(KIOSK, payload)
    assert isinstance(resp, messages.Response)
    _assert_nothing_written(service.ledger)


def test_hostile_payloads_over_mqtt_never_crash_the_worker_or_leak_card_numbers(setup: dict[str, Any]) -> None:
    service: HubService = setup["service"]
    kiosk: _Publisher = setup["kiosk"]
    sent: list[int] = []

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(payload=hostile)
    def barrage(payload: bytes) -> None:
        if len(payload) > MESSAGE_SIZE_LIMIT:
            # The broker refuses it (tests/security/test_broker_tls.py), and Mosquitto's
            # PUBACK makes paho drop the link: the plain-broker test below sends these.
            return
        for leaf in ("txn", "req"):
            reason = kiosk.publish(topics.topic(KIOSK, leaf), payload)
            assert not reason.is_failure, (leaf, len(payload), reason)  # reached the worker
        sent.append(len(payload))

    barrage()
    assert len(sent) > 40
    # A hostile topic, a card number where the kiosk id belongs: not its own, refused.
    refused = kiosk.publish(f"alliance/v1/kiosk/{SECRET_CARD}x!/txn", json.dumps(valid_txn()).encode())
    assert refused.is_failure and refused.value == 0x87  # not authorised
    resp = _still_answers(setup)
    assert resp.ok and resp.route == "shelve"
    assert service.connected and service.stats.errors == 0
    _assert_nothing_written(service.ledger)
    logged = "\n".join(setup["records"].lines)
    assert "invalid" in logged  # the rejections were logged ...
    assert SECRET_CARD not in logged  # ... without the card number


def test_what_only_an_anonymous_broker_lets_through_never_crashes_the_worker_or_leaks(
    setup: dict[str, Any], own_plain_broker: MosquittoProcess
) -> None:
    """Plain broker: the secure one refuses a foreign topic and oversized payloads at the
    door, but the worker must survive them on a misconfigured broker too."""
    lab: Lab = setup["lab"]
    config = hub_settings(lab, "hostile-plain", request_burst=100_000)
    service = HubService(own_plain_broker.url, setup["db_url"], setup["registry"], "hostile-plain", config=config)
    service.start()
    anonymous = _Publisher(secure_client(lab, own_plain_broker, "anonymous-attacker"), own_plain_broker.port)
    try:
        big = [
            json.dumps({**valid_txn(), "item": SECRET_CARD * 3000}).encode(),
            json.dumps({**valid_request(), "library_id": SECRET_CARD * 3000}).encode(),
            ("[" * 20_000 + "1" + "]" * 20_000).encode(),
            ('{"a":' * 20_000 + "1" + "}" * 20_000).encode(),
        ]
        for payload in big:
            assert len(payload) > MESSAGE_SIZE_LIMIT
            for leaf in ("txn", "req"):
                assert not anonymous.publish(topics.topic(KIOSK, leaf), payload).is_failure
        assert not anonymous.publish(f"alliance/v1/kiosk/{SECRET_CARD}x!/txn", json.dumps(valid_txn()).encode()).is_failure
        resp = _still_answers(setup, anonymous)
        assert resp.ok and resp.route == "shelve"
        assert service.connected and service.stats.errors == 0
        assert service.stats.invalid >= 2 * len(big) + 1  # each payload, and the topic
        _assert_nothing_written(service.ledger)
        logged = "\n".join(setup["records"].lines)
        assert "invalid kiosk id" in logged
        assert SECRET_CARD not in logged
    finally:
        anonymous.close()
        service.stop()
