"""The kiosk's hub link against its baselines, on the same broker in the same run.

- Offline backlog: time for a journal of n rows to drain through `HubLink` to a trivial
  acker (every row published QoS 1, acked by the "hub", marked in SQLite with fsync),
  next to a bare QoS 1 publish of n messages that a subscriber counts.
- Request round trip: a bare MQTT 5 request/response (ResponseTopic + CorrelationData,
  TCP_NODELAY on both clients) is the floor for tap -> greeting; the same exchange
  through `HubLink.request` shows what the link adds.

Every function takes a `bench.endpoints.Endpoint`: on the secure (TLS) broker, the
default, the "kiosk" side of each exchange is an enrolled kiosk identity and the
"hub" side a hub worker identity (the broker's roles allow nothing else), the stand-in
hub signs its acks and answers and the link verifies them, as in the field. The bare
baselines use the same alliance topics on the same broker type, so a ratio compares
like with like.
"""

from __future__ import annotations

import json
import queue
import secrets
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.endpoints import Endpoint
from contract import messages, topics
from contract.broker_url import parse_broker_url
from firmware.core.events import HubAnswered, LinkChanged, TxnAcked
from firmware.hub_link import HubLink
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory


def bench_client(
    endpoint: Endpoint,
    name: str,
    on_message: Any = None,
    subscribe: str | None = None,
    *,
    hub: bool = False,
) -> mqtt.Client:
    """A connected helper client: identity `name` on TLS (a hub worker when `hub`, else
    an enrolled kiosk), subscribed to `subscribe` (QoS 1) before it returns."""
    addr = parse_broker_url(endpoint.url)
    client = endpoint.client(name, hub=hub)
    client.on_socket_open = lambda _c, _u, s: s.setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
    )
    client.max_inflight_messages_set(100)
    if on_message is not None:
        client.on_message = on_message
    subscribed = threading.Event()
    refused: list[object] = []

    def on_subscribe(_c: Any, _u: Any, _mid: Any, codes: Any, _p: Any = None) -> None:
        refused.extend(c for c in codes if getattr(c, "is_failure", False))
        subscribed.set()

    client.on_subscribe = on_subscribe
    client.connect(addr.host, addr.port)
    client.loop_start()
    if subscribe is not None:
        client.subscribe(subscribe, 1)
        if not subscribed.wait(5):
            raise TimeoutError(f"no SUBACK for {subscribe}")
        if refused:
            _close(client)
            raise PermissionError(f"{name}: subscription to {subscribe} refused: {refused}")
    return client


def _close(*clients: mqtt.Client) -> None:
    for client in clients:
        client.disconnect()
        client.loop_stop()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bare_qos1_publish_s(endpoint: Endpoint, n: int) -> float:
    """Seconds for n QoS 1 publishes from one client to reach one subscriber.

    The publisher is a hub identity writing to a bench kiosk's `ack` topic, the
    subscriber that kiosk: the one direction no hub worker reads, so a real hub on the
    broker neither sees nor answers these (the roles allow no topic of our own)."""
    kiosk_id = f"bench-q1-{secrets.token_hex(3)}"
    topic = topics.topic(kiosk_id, "ack")
    received = 0
    done = threading.Event()

    def on_message(*_: Any) -> None:
        nonlocal received
        received += 1
        if received >= n:
            done.set()

    sub = bench_client(endpoint, kiosk_id, on_message, subscribe=topic)
    pub = bench_client(endpoint, "bench-q1-pub", hub=True)
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
    endpoint: Endpoint,
    n: int = 10_000,
    *,
    acker: bool = True,
    items: list[str] | None = None,
    timeout_s: float = 300.0,
) -> dict[str, float]:
    """A journal of n rows drained through HubLink to an acker, vs. a bare QoS 1 publish.

    `acker=False` leaves the acking to whatever hub listens on the broker (the real one);
    `items` are the barcodes returned (cycled), so a real hub finds real books. The
    stand-in acker is a hub identity and signs its acks (TLS); the link verifies them.
    """
    kiosk_id = f"bench-{secrets.token_hex(3)}"
    txn_topic = topics.topic(kiosk_id, "txn")
    ack_topic = topics.topic(kiosk_id, "ack")
    acker_client: mqtt.Client | None

    def ack(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        txn_id = json.loads(msg.payload)["txn_id"]
        assert acker_client is not None
        payload = b'{"v":1,"txn_id":"%s","result":"committed"}' % txn_id.encode()
        props = Properties(PacketTypes.PUBLISH)
        endpoint.sign(props, kiosk_id, "ack", txn_id, payload)
        acker_client.publish(ack_topic, payload, qos=1, properties=props)

    tls = endpoint.kiosk_tls(kiosk_id)  # enrolled before anything connects
    acker_client = (
        bench_client(endpoint, "bench-acker", ack, subscribe=txn_topic, hub=True) if acker else None
    )
    events: queue.Queue[object] = queue.Queue()
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        journal = Journal.open(Path(tmp) / "journal.sqlite3")
        factory = TxnIdFactory(kiosk_id, None)
        # A chute's pace apart (3 s, under the hub's `returns_per_minute`), up to now.
        start = datetime.now(UTC) - timedelta(seconds=3 * n)
        for i in range(n):
            journal.record(
                messages.Txn(
                    txn_id=factory.next_id(),
                    kiosk_id=kiosk_id,
                    library_id="capital",
                    kind="return",
                    item=items[i % len(items)] if items else f"3010100{i:07d}",
                    at=start + timedelta(seconds=3 * i),
                    mode="offline",
                    route="shelve",
                )
            )
        link = HubLink(
            endpoint.url,
            kiosk_id,
            "capital",
            events.put,
            firmware_version="bench",
            journal=journal,
            fetch_blocklist=False,
            tls=tls,
            hub_public_key=endpoint.hub_public_key(),
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
            counts = journal.counts()
            journal.close()
            if acker_client is not None:
                _close(acker_client)
    bare_s = bare_qos1_publish_s(endpoint, n)
    return {
        "n": n,
        "broker": endpoint.label,
        "drain_s": round(drain_s, 3),
        "connect_s": round(connected_at - started, 3),
        "rows_per_s": round(n / drain_s, 1),
        "bare_qos1_s": round(bare_s, 3),
        "bare_qos1_per_s": round(n / bare_s, 1),
        "ratio": round(drain_s / bare_s, 2),
        "left_unacked": remaining,
        "journal_counts": counts,
    }


def measure_bare_rtt(endpoint: Endpoint, n: int = 500) -> dict[str, float]:
    """Bare MQTT 5 request/response round trip (ms), TCP_NODELAY on both ends: a kiosk
    identity publishes on its `req` topic, a hub identity answers on its `resp` topic
    (unsigned: the floor). No hub may run on the broker meanwhile: it would answer too."""
    kiosk_id = f"bench-rtt-{secrets.token_hex(3)}"
    req_topic = topics.topic(kiosk_id, "req")
    resp_topic = topics.topic(kiosk_id, "resp")
    answers: queue.Queue[bytes] = queue.Queue()
    responder: mqtt.Client

    def answer(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        responder.publish(
            msg.properties.ResponseTopic, b'{"v":1,"ok":true}', qos=1, properties=props
        )

    responder = bench_client(endpoint, "bench-rtt-responder", answer, subscribe=req_topic, hub=True)
    requester = bench_client(
        endpoint,
        kiosk_id,
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
        "broker": endpoint.label,
        "p50_ms": round(_percentile(times, 0.5), 3),
        "p99_ms": round(_percentile(times, 0.99), 3),
    }


def measure_link_rtt(endpoint: Endpoint, n: int = 500) -> dict[str, float]:
    """The same round trip through HubLink.request -> HubAnswered (ms); the stand-in
    hub signs its answers (TLS) and the link verifies them."""
    kiosk_id = f"bench-{secrets.token_hex(3)}"
    responder: mqtt.Client

    def answer(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        payload = b'{"v":1,"ok":true}'
        endpoint.sign(props, kiosk_id, "resp", bytes(props.CorrelationData), payload)
        responder.publish(msg.properties.ResponseTopic, payload, qos=1, properties=props)

    tls = endpoint.kiosk_tls(kiosk_id)
    responder = bench_client(
        endpoint, "bench-responder", answer, subscribe=topics.topic(kiosk_id, "req"), hub=True
    )
    events: queue.Queue[object] = queue.Queue()
    link = HubLink(
        endpoint.url,
        kiosk_id,
        "capital",
        events.put,
        firmware_version="bench",
        fetch_blocklist=False,
        tls=tls,
        hub_public_key=endpoint.hub_public_key(),
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
        "broker": endpoint.label,
        "p50_ms": round(_percentile(times, 0.5), 3),
        "p99_ms": round(_percentile(times, 0.99), 3),
    }


def run_all(endpoint: Endpoint | None = None, n: int = 10_000) -> dict[str, Any]:
    """All three figures; starts a private secure broker (a lab) when none is given."""
    from bench.endpoints import secure_endpoint

    own = None if endpoint else secure_endpoint()
    target = endpoint or own
    assert target is not None
    try:
        return {
            "bare_rtt": measure_bare_rtt(target),
            "link_rtt": measure_link_rtt(target),
            "backlog": measure_backlog_drain(target, n),
        }
    finally:
        if own is not None:
            own.close()


if __name__ == "__main__":
    print(json.dumps(run_all(), indent=2))
