"""Whatever bytes arrive on a txn or req topic, the worker survives, writes nothing, and
never logs a card number."""

from __future__ import annotations

import json
import logging
import queue
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.card_schemes import make_card_number
from hub import catalogue
from hub.broker_process import MosquittoProcess
from hub.config import HubConfig
from hub.ledger import Ledger
from hub.registry import Registry, load_registry
from hub.service import HubService

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
def private_broker() -> Iterator[MosquittoProcess]:
    """A broker of this module alone: on the shared one, other tests' kiosks publish
    state and telemetry that the hub rightly records as fleet rows."""
    with MosquittoProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def setup(
    private_broker: MosquittoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    broker = private_broker
    registry: Registry = load_registry()
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile')}/hub.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    # The barrage is a flood of requests from one kiosk: lift the per-kiosk rate limit
    # (tests/security/test_txn_checks.py tests it) so every payload reaches the intake.
    config = HubConfig(request_burst=100_000)
    service = HubService(broker.url, url, registry, "hostile", config=config).start()
    answers: queue.Queue[tuple[str, bytes]] = queue.Queue()
    ready = threading.Event()
    host, port = broker.url.removeprefix("mqtt://").split(":")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hostile-{secrets.token_hex(3)}", protocol=mqtt.MQTTv5)
    c.on_socket_open = lambda cl, ud, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe([(topics.topic(KIOSK, "ack"), 1),
                                                           (topics.topic(KIOSK, "resp"), 1)])
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, ud, msg: answers.put((msg.topic, msg.payload))
    c.connect(host, int(port))
    c.loop_start()
    assert ready.wait(5)
    yield {"service": service, "client": c, "answers": answers, "records": records, "registry": registry}
    c.disconnect()
    c.loop_stop()
    service.retire()  # leave no session behind on the shared broker
    root.removeHandler(records)
    root.setLevel(old_level)


def _publish(client: mqtt.Client, leaf: str, payload: bytes) -> None:
    client.publish(topics.topic(KIOSK, leaf), payload, qos=1).wait_for_publish(5)


def _still_answers(setup: dict[str, Any]) -> messages.Response:
    """A valid request after the barrage: same publisher, same worker, so it is handled
    after every hostile message before it."""
    answers: queue.Queue[tuple[str, bytes]] = setup["answers"]
    corr = secrets.token_bytes(6)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topics.topic(KIOSK, "resp")
    props.CorrelationData = corr
    item = catalogue.item_barcode(setup["registry"], "capital", 1)
    setup["client"].publish(topics.topic(KIOSK, "req"),
                            messages.encode(messages.ReturnRoute(op="return_route", item=item, library_id="capital")),
                            qos=1, properties=props)
    while True:
        topic, payload = answers.get(timeout=10)
        if topic.endswith("/resp"):
            resp = messages.Response.model_validate_json(payload)
            if resp.route is not None:
                return resp


def _assert_nothing_written(service: HubService) -> None:
    assert service.ledger is not None
    for table in ("txns", "loans", "exceptions", "transfers", "fleet"):
        assert service.ledger.count(table) == 0, table


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(payload=hostile)
def test_hostile_payloads_handled_directly_never_raise_or_write(setup: dict[str, Any], payload: bytes) -> None:
    service: HubService = setup["service"]
    acks = service.intake.handle_txn(KIOSK, payload)
    assert all(ack.result == "rejected" for ack in acks) and len(acks) <= 1
    resp = service.intake.handle_request(KIOSK, payload)
    assert isinstance(resp, messages.Response)
    _assert_nothing_written(service)


def test_hostile_payloads_over_mqtt_never_crash_the_worker_or_leak_card_numbers(setup: dict[str, Any]) -> None:
    service: HubService = setup["service"]
    client: mqtt.Client = setup["client"]

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(payload=hostile)
    def barrage(payload: bytes) -> None:
        _publish(client, "txn", payload)
        _publish(client, "req", payload)

    barrage()
    # Also a hostile topic: a card number where the kiosk id belongs.
    client.publish(f"alliance/v1/kiosk/{SECRET_CARD}x!/txn", json.dumps(valid_txn()).encode(), qos=1)
    resp = _still_answers(setup)
    assert resp.ok and resp.route == "shelve"
    assert service.connected and service.stats.errors == 0
    _assert_nothing_written(service)
    logged = "\n".join(setup["records"].lines)
    assert "invalid" in logged  # the rejections were logged ...
    assert SECRET_CARD not in logged  # ... without the card number
