"""The kiosk's hub link against its baselines, on the same broker in the same run.

- Offline backlog: time for a journal of n rows to drain through `HubLink` to a trivial
  acker (every row published QoS 1, acked by the "hub", marked in SQLite with fsync),
  next to a bare QoS 1 publish of n messages that a subscriber counts.
- Request round trip: a bare MQTT 5 request/response (ResponseTopic + CorrelationData,
  TCP_NODELAY on both clients) is the floor for tap -> greeting; the same exchange
  through `HubLink.request` shows what the link adds.
"""

from __future__ import annotations

import json
import queue
import secrets
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.broker_url import parse_broker_url
from firmware.core.events import HubAnswered, LinkChanged, TxnAcked
from firmware.hub_link import HubLink
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory


def bench_client(
    broker_url: str, name: str, on_message: Any = None, subscribe: str | None = None
) -> mqtt.Client:
    addr = parse_broker_url(broker_url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{secrets.token_hex(3)}",
        protocol=mqtt.MQTTv5,
    )
    client.on_socket_open = lambda _c, _u, s: s.setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
    )
    client.max_inflight_messages_set(100)
    if on_message is not None:
        client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(addr.host, addr.port)
    client.loop_start()
    if subscribe is not None:
        client.subscribe(subscribe, 1)
        if not subscribed.wait(5):
            raise TimeoutError(f"no SUBACK for {subscribe}")
    return client


def _close(*clients: mqtt.Client) -> None:
    for client in clients:
        client.disconnect()
        client.loop_stop()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bare_qos1_publish_s(broker_url: str, n: int) -> float:
    """Seconds for n QoS 1 publishes from one client to reach one subscriber."""
    topic = f"bench/bare/{secrets.token_hex(4)}"
    received = 0
    done = threading.Event()

    def on_message(*_: Any) -> None:
        nonlocal received
        received += 1
        if received >= n:
            done.set()

    sub = bench_client(broker_url, "bench-sub", on_message, subscribe=topic)
    pub = bench_client(broker_url, "bench-pub")
    payload = b'{"v":1,"txn_id":"' + b"0" * 30 + b'","pad":"' + b"x" * 200 + b'"}'
    started = time.perf_counter()
    for _ in range(n):
        pub.publish(topic, payload, qos=1)
    if not done.wait(120):
        raise TimeoutError(f"bare publish: {received}/{n} arrived")
    elapsed = time.perf_counter() - started
    _close(pub, sub)
    return elapsed


def measure_backlog_drain(
    broker_url: str,
    n: int = 10_000,
    *,
    acker: bool = True,
    items: list[str] | None = None,
    timeout_s: float = 300.0,
) -> dict[str, float]:
    """A journal of n rows drained through HubLink to an acker, vs. a bare QoS 1 publish.

    `acker=False` leaves the acking to whatever hub listens on the broker (the real one);
    `items` are the barcodes returned (cycled), so a real hub finds real books.
    """
    kiosk_id = f"bench-{secrets.token_hex(3)}"
    txn_topic = topics.topic(kiosk_id, "txn")
    ack_topic = topics.topic(kiosk_id, "ack")
    acker_client: mqtt.Client | None

    def ack(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        txn_id = json.loads(msg.payload)["txn_id"]
        assert acker_client is not None
        acker_client.publish(
            ack_topic, b'{"v":1,"txn_id":"%s","result":"committed"}' % txn_id.encode(), qos=1
        )

    acker_client = bench_client(broker_url, "bench-acker", ack, subscribe=txn_topic) if acker else None
    events: queue.Queue[object] = queue.Queue()
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        journal = Journal.open(Path(tmp) / "journal.sqlite3")
        factory = TxnIdFactory(kiosk_id, None)
        at = datetime.now(UTC)
        for i in range(n):
            journal.record(
                messages.Txn(
                    txn_id=factory.next_id(),
                    kiosk_id=kiosk_id,
                    library_id="capital",
                    kind="return",
                    item=items[i % len(items)] if items else f"3010100{i:07d}",
                    at=at,
                    mode="offline",
                    route="shelve",
                )
            )
        link = HubLink(
            broker_url,
            kiosk_id,
            "capital",
            events.put,
            firmware_version="bench",
            journal=journal,
            fetch_blocklist=False,
        )
        started = time.perf_counter()
        link.start()
        acked = 0
        connected_at = started
        deadline = time.monotonic() + timeout_s
        try:
            while acked < n:
                try:
                    event = events.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise TimeoutError(
                        f"only {acked}/{n} rows acked in {timeout_s:.0f} s"
                    ) from None
                if isinstance(event, TxnAcked):
                    acked += 1
                elif event == LinkChanged(True):
                    connected_at = time.perf_counter()
            drain_s = time.perf_counter() - started
        finally:
            link.stop()
            remaining = journal.depth()
            journal.close()
            if acker_client is not None:
                _close(acker_client)
    bare_s = bare_qos1_publish_s(broker_url, n)
    return {
        "n": n,
        "drain_s": round(drain_s, 3),
        "connect_s": round(connected_at - started, 3),
        "rows_per_s": round(n / drain_s, 1),
        "bare_qos1_s": round(bare_s, 3),
        "bare_qos1_per_s": round(n / bare_s, 1),
        "ratio": round(drain_s / bare_s, 2),
        "left_unacked": remaining,
    }


def measure_bare_rtt(broker_url: str, n: int = 500) -> dict[str, float]:
    """Bare MQTT 5 request/response round trip (ms), TCP_NODELAY on both ends."""
    req_topic = f"bench/rtt/{secrets.token_hex(4)}/req"
    resp_topic = req_topic[:-3] + "resp"
    answers: queue.Queue[bytes] = queue.Queue()
    responder: mqtt.Client

    def answer(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        responder.publish(
            msg.properties.ResponseTopic, b'{"v":1,"ok":true}', qos=1, properties=props
        )

    responder = bench_client(broker_url, "bench-responder", answer, subscribe=req_topic)
    requester = bench_client(
        broker_url,
        "bench-requester",
        lambda _c, _u, m: answers.put(m.properties.CorrelationData),
        subscribe=resp_topic,
    )
    times: list[float] = []
    payload = b'{"v":1,"op":"reader_lookup","card":{"scheme":"joint","number":"0000000000"}}'
    for i in range(n):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = resp_topic
        props.CorrelationData = str(i).encode()
        started = time.perf_counter()
        requester.publish(req_topic, payload, qos=1, properties=props)
        while answers.get(timeout=5) != str(i).encode():
            pass
        times.append((time.perf_counter() - started) * 1000)
    _close(requester, responder)
    return {
        "n": n,
        "p50_ms": round(_percentile(times, 0.5), 3),
        "p99_ms": round(_percentile(times, 0.99), 3),
    }


def measure_link_rtt(broker_url: str, n: int = 500) -> dict[str, float]:
    """The same round trip through HubLink.request -> HubAnswered (ms)."""
    kiosk_id = f"bench-{secrets.token_hex(3)}"
    responder: mqtt.Client

    def answer(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        responder.publish(
            msg.properties.ResponseTopic, b'{"v":1,"ok":true}', qos=1, properties=props
        )

    responder = bench_client(
        broker_url, "bench-responder", answer, subscribe=topics.topic(kiosk_id, "req")
    )
    events: queue.Queue[object] = queue.Queue()
    link = HubLink(
        broker_url, kiosk_id, "capital", events.put, firmware_version="bench", fetch_blocklist=False
    )
    link.start()
    while events.get(timeout=10) != LinkChanged(True):
        pass
    request = messages.ReturnRoute(op="return_route", item="30101000000017", library_id="capital")
    times: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        link.request(f"r{i}", request)
        while True:
            event = events.get(timeout=5)
            if isinstance(event, HubAnswered) and event.corr_id == f"r{i}":
                break
        times.append((time.perf_counter() - started) * 1000)
    link.stop()
    _close(responder)
    return {
        "n": n,
        "p50_ms": round(_percentile(times, 0.5), 3),
        "p99_ms": round(_percentile(times, 0.99), 3),
    }


def run_all(broker_url: str | None = None, n: int = 10_000) -> dict[str, Any]:
    """All three figures; starts a private Mosquitto when no broker URL is given."""
    from hub.broker_process import MosquittoProcess

    own = None if broker_url else MosquittoProcess().start()
    url = broker_url or own.url  # type: ignore[union-attr]
    try:
        return {
            "bare_rtt": measure_bare_rtt(url),
            "link_rtt": measure_link_rtt(url),
            "backlog": measure_backlog_drain(url, n),
        }
    finally:
        if own is not None:
            own.close()


if __name__ == "__main__":
    print(json.dumps(run_all(), indent=2))
