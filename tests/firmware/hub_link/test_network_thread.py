"""paho's network thread survives an error in paho itself (contract/paho_thread.py): the
kiosk's connection says the link is down, connects again, and what the hub sends
afterwards still arrives; without the guard the thread ends and the kiosk would stay
deaf and mute until someone restarted it. On the lab's TLS broker, as the kiosk runs."""

from __future__ import annotations

import queue
import secrets
import threading

import pytest

from contract import topics
from contract.broker_url import parse_broker_url
from firmware.core.events import LinkChanged
from firmware.hub_link.connection import Connection
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from tests.paho_faults import crash_loop_once
from tests.secure_clients import kiosk_tls, secure_client


def _next_link(events: queue.Queue, timeout: float = 10) -> bool:
    while True:
        event = events.get(timeout=timeout)
        if isinstance(event, LinkChanged):
            return event.online


def test_an_error_inside_paho_costs_a_reconnect_not_the_link(
    lab: Lab, broker: TlsMosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    kiosk_id = f"k-thread-{secrets.token_hex(3)}"
    events: queue.Queue = queue.Queue()
    got: queue.Queue = queue.Queue()
    ack_topic = topics.topic(kiosk_id, "ack")
    connection = Connection(
        parse_broker_url(broker.url), kiosk_id, events.put,
        will=(topics.topic(kiosk_id, "state"), b'{"state": "offline"}'), subscriptions=[ack_topic],
        tls=kiosk_tls(lab, kiosk_id),
    )  # fmt: skip
    connection.on_message(ack_topic, lambda msg: got.put(msg.payload))
    hub = secure_client(lab, broker, "hub-thread-test")
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    connection.start()
    try:
        assert _next_link(events) is True
        raised = crash_loop_once(connection._client, RuntimeError("OrderedDict mutated during iteration"))
        assert raised.wait(5), "paho's loop never ran again"
        assert _next_link(events) is False, "the link must be reported down: nothing is read meanwhile"
        assert connection.connected is False
        assert _next_link(events) is True, "connected again on a new connection"
        hub.publish(ack_topic, b"after", qos=1)
        assert got.get(timeout=10) == b"after", "the thread reads again"
    finally:
        connection.stop()
        hub.loop_stop()
        hub.disconnect()
    assert "paho's network loop failed (RuntimeError: OrderedDict mutated during iteration)" in caplog.text
    assert not any(t.name.startswith("paho-mqtt-client-" + kiosk_id) for t in threading.enumerate()), (
        "stop ends the thread as before"
    )
