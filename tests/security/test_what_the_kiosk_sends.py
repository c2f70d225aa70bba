"""What the kiosk's link refuses to send. PINs travel only over TLS (issue 10 item 5):
on a plain `mqtt://` link the link answers a PIN check itself ("try again",
`pin_needs_tls`) and publishes nothing; a lab that allows it (`[hub] pins_over_plain`)
sends it; on TLS it always goes (tests/e2e). And nothing over the contract's 16 KiB.

On a plain broker on purpose: what crosses a lab's plain link is the subject, and a spy
there sees everything."""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract.messages import CardRef, PinCheck, ReaderLookup
from contract.topics import topic
from firmware.core.events import HubAnswered, HubTimedOut, LinkChanged
from firmware.hub_link.link import HubLink
from hub.lab.broker_process import MosquittoProcess

PIN = PinCheck(op="pin_check", card=CardRef(scheme="bj-joint", number="0110000012341"), pin="123456")


def _spy(broker: MosquittoProcess) -> tuple[mqtt.Client, queue.Queue]:
    """Everything published on the plain broker (the lab setup has no roles), as
    (topic, payload, correlation data)."""
    seen: queue.Queue = queue.Queue()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: seen.put(
        (m.topic, m.payload, bytes(getattr(m.properties, "CorrelationData", b"") or b""))
    )
    client.on_subscribe = lambda *_: ready.set()
    client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert ready.wait(5)
    return client, seen


def _online_link(broker: MosquittoProcess, kiosk_id: str, **options: object) -> tuple[HubLink, queue.Queue]:
    events: queue.Queue = queue.Queue()
    link = HubLink(broker.url, kiosk_id, "capital", events.put, firmware_version="test",
                   fetch_blocklist=False, request_timeout_s=1.0, **options)  # fmt: skip
    link.start()
    while events.get(timeout=10) != LinkChanged(True):
        pass
    return link, events


def _next_answer(events: queue.Queue) -> object:
    while True:
        event = events.get(timeout=5)
        if isinstance(event, HubAnswered | HubTimedOut):
            return event


def _requests_until(seen: queue.Queue, kiosk: str, corr_prefix: str) -> list[bytes]:
    """The kiosk's request payloads the spy saw, up to and including the first whose
    correlation data starts with `corr_prefix` (bounded: fails if it never comes)."""
    payloads = []
    while True:
        try:
            name, payload, corr = seen.get(timeout=5)
        except queue.Empty:
            pytest.fail(f"the spy never saw request {corr_prefix}; it saw {payloads}")
        if name == topic(kiosk, "req"):
            payloads.append(payload)
            if corr.startswith(corr_prefix.encode()):
                return payloads


# A plain broker on purpose: what the kiosk does on a lab's plain link is the subject.
@pytest.mark.parametrize("allowed", [False, True])
def test_a_pin_is_sent_over_a_plain_link_only_where_a_lab_allows_it(
    plain_broker: MosquittoProcess, allowed: bool
) -> None:
    spy, seen = _spy(plain_broker)
    kiosk = f"k-plain-pin-{int(allowed)}"
    link, events = _online_link(plain_broker, kiosk, pins_over_plain=allowed)
    try:
        link.request("c1", PIN)
        answer = _next_answer(events)
        if allowed:
            assert isinstance(answer, HubTimedOut)  # sent; no hub on this broker
            assert b'"pin":"123456"' in _requests_until(seen, kiosk, "c1.")[-1]
        else:
            assert answer == HubAnswered("c1", answer.response)
            assert answer.response.ok is False and answer.response.error == "pin_needs_tls"
            # The next request is the marker: one client's QoS 1 messages on one topic
            # arrive in order, so a PIN sent at all would reach the spy before it.
            link.request("c2", ReaderLookup(op="reader_lookup", card=PIN.card, library_id="capital"))
            assert isinstance(_next_answer(events), HubTimedOut)  # other requests still go
            requests = _requests_until(seen, kiosk, "c2.")
            assert not any(b"123456" in p for p in requests), requests
    finally:
        link.stop()
        spy.disconnect()
        spy.loop_stop()


def test_the_kiosk_never_puts_an_oversized_message_on_the_wire(
    plain_broker: MosquittoProcess,
) -> None:
    """Over the contract's 16 KiB the alliance broker refuses it with a PUBACK paho drops
    the link over, and paho would resend it on every reconnect: refused before the wire."""
    from paho.mqtt.enums import MQTTErrorCode

    from contract.messages import MAX_PAYLOAD_BYTES

    spy, seen = _spy(plain_broker)
    link, _events = _online_link(plain_broker, "k-oversize")
    try:
        connection = link._connection
        big = connection.publish(topic("k-oversize", "telemetry"), b"x" * (MAX_PAYLOAD_BYTES + 1), qos=1)
        assert big.rc == MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
        fits = connection.publish(topic("k-oversize", "telemetry"), b"x" * MAX_PAYLOAD_BYTES, qos=1)
        assert fits.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        sizes = []
        while len(sizes) < 1:
            name, payload, _corr = seen.get(timeout=5)
            if name.endswith("/telemetry") and len(payload) >= MAX_PAYLOAD_BYTES:
                sizes.append(len(payload))
        assert sizes == [MAX_PAYLOAD_BYTES]
    finally:
        link.stop()
        spy.disconnect()
        spy.loop_stop()
