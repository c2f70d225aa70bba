"""Stand-ins for the link's parts to run against: a connection that records what is
published and lets a test deliver messages or drop the link, and a clock a test moves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode

from contract import messages
from contract.broker_url import BrokerAddress
from contract.messages import Txn


@dataclass
class Published:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Any


@dataclass
class FakeConnection:
    """What `firmware.hub_link.connection.Connection` offers the parts, without a broker."""

    address: BrokerAddress = field(default_factory=lambda: BrokerAddress("127.0.0.1", 8883, tls=True))
    usable: bool = True
    connected: bool = True
    refuse: bool = False  # paho refuses publishes (e.g. its queue is full)
    published: list[Published] = field(default_factory=list)
    handlers: dict[str, Callable[[mqtt.MQTTMessage], None]] = field(default_factory=dict)
    up: list[Callable[[], None]] = field(default_factory=list)
    down: list[Callable[[], None]] = field(default_factory=list)

    def on_message(self, topic: str, handler: Callable[[mqtt.MQTTMessage], None]) -> None:
        self.handlers[topic] = handler

    def when_up(self, callback: Callable[[], None]) -> None:
        self.up.append(callback)

    def when_down(self, callback: Callable[[], None]) -> None:
        self.down.append(callback)

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False, properties: Any = None
    ) -> Any:
        if self.refuse:
            return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_QUEUE_SIZE)
        self.published.append(Published(topic, payload, qos, retain, properties))
        return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_SUCCESS)

    def deliver(self, topic: str, payload: bytes, properties: Any = None) -> None:
        msg = mqtt.MQTTMessage(topic=topic.encode())
        msg.payload = payload
        msg.properties = properties
        self.handlers[topic](msg)

    def drop(self) -> None:
        self.usable = self.connected = False
        for callback in self.down:
            callback()

    def restore(self) -> None:
        self.usable = self.connected = True
        for callback in self.up:
            callback()

    def txn_ids(self) -> list[str]:
        """The txn ids published on `.../txn`, in order (repeats included)."""
        return [
            messages.parse(Txn, p.payload).txn_id
            for p in self.published
            if p.topic.endswith("/txn")
        ]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def conn() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
