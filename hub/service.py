"""The hub's MQTT worker: takes kiosk messages off the broker, hands them to
`hub.intake`, publishes the acks and responses, and sends kiosks commands.

Several workers may run against one ledger and one broker: they subscribe through the
shared subscription group `$share/hub/...`, so the broker hands each message to one of
them, and the ledger's unique txn_id makes a message delivered twice (to one worker or
to two) commit once. Nothing a kiosk sends can crash a worker: every handler is wrapped,
and logs carry field names and reason codes, never card numbers or names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.broker_url import parse_broker_url
from hub.answers import RequestAnswers
from hub.config import HubConfig
from hub.intake import KIOSK_ID_RE, Intake, WorkerStats, safe_kiosk
from hub.ledger import Ledger
from hub.registry import Registry

log = logging.getLogger(__name__)

SHARE_GROUP = "hub"
# Shared (load-balanced) subscriptions, one per kiosk->hub leaf.
SHARED_LEAVES = ("txn", "req", "state", "telemetry")


def subscriptions() -> list[tuple[str, int]]:
    """What a worker subscribes to. Command results are a plain subscription: the worker
    that sent a command is the one waiting for its result, and they are few."""
    subs = [(f"$share/{SHARE_GROUP}/{topics.PREFIX}/kiosk/+/{leaf}", 1) for leaf in SHARED_LEAVES]
    subs.append((f"{topics.PREFIX}/kiosk/+/cmd/result", 1))
    return subs


@dataclass
class _CommandWait:
    """A sent command: `event` is set when its result arrives."""

    event: threading.Event = field(default_factory=threading.Event)
    result: messages.CommandResult | None = None


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """TCP_NODELAY: without it every QoS 1 round trip waits ~88 ms (Nagle vs delayed ACK)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _paho_log(client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
    if level == mqtt.MQTT_LOG_ERR:
        log.error("paho: %s", buf[:200])
    elif level == mqtt.MQTT_LOG_WARNING:
        log.warning("paho: %s", buf[:200])


class HubService:
    """One hub worker. `start()` opens the ledger, connects and returns once subscribed;
    `stop()` is idempotent. Handlers run on paho's network thread. `ledger` and `intake`
    exist between `start()` and `stop()`."""

    def __init__(
        self,
        broker_url: str,
        db_url: str,
        registry: Registry,
        worker_name: str = "hub-1",
        config: HubConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.address = parse_broker_url(broker_url)
        self.host, self.port = self.address.host, self.address.port
        self.db_url = db_url
        self.registry = registry
        self.worker_name = worker_name
        self.config = config or HubConfig()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = WorkerStats()
        self.ledger: Ledger | None = None
        self.intake: Intake | None = None
        self._client: mqtt.Client | None = None
        self._subscribed = threading.Event()
        self._commands: dict[str, _CommandWait] = {}
        self._commands_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait: float | None = 10.0) -> HubService:
        """Open the ledger, connect, subscribe. With `wait`, block until the broker granted
        the subscriptions (TimeoutError otherwise); with None, return at once and let
        paho keep retrying in the background."""
        if self._client is not None:
            return self
        self.ledger = Ledger.open(self.db_url)
        answers = RequestAnswers(
            self.ledger,
            self.registry,
            self.clock,
            local_tz=self.config.timezone,
            offline_max_items=self.config.offline_max_items,
        )
        self.intake = Intake(self.ledger, self.registry, answers, self.clock, self.stats)
        client_id = f"hub-{self.worker_name}-{os.getpid()}-{secrets.token_hex(3)}"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        client.on_socket_open = _set_nodelay
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        # Not enable_logger(): paho's debug lines echo topics, and a hostile topic may
        # carry a card number. Only its warnings and errors are passed on.
        client.on_log = _paho_log
        self._client = client
        if self.address.tls:
            client.tls_set()  # mqtts://: the system's trust store
        client.connect_async(self.host, self.port, keepalive=30, clean_start=True)
        client.loop_start()
        if wait is not None and not self._subscribed.wait(wait):
            self.stop()
            raise TimeoutError(f"hub worker could not subscribe at {self.broker_url} within {wait}s")
        return self

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            finally:
                client.loop_stop()
        self.intake = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    def __enter__(self) -> HubService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("worker %s: broker refused connection: %s", self.worker_name, reason)
            return
        # Subscribing here brings the subscriptions back after every reconnect.
        client.subscribe(subscriptions())

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("worker %s: subscriptions refused: %s", self.worker_name, failed)
            return
        self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._subscribed.clear()
        if reason is not None and getattr(reason, "is_failure", False):
            log.warning("worker %s: disconnected (%s); paho reconnects", self.worker_name, reason)

    # ------------------------------------------------------------------ dispatch

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        kiosk_id = topics.kiosk_id_from_topic(msg.topic)
        leaf = msg.topic.split("/", 4)[4] if msg.topic.count("/") >= 4 else ""
        intake = self.intake
        try:
            if kiosk_id is None or not KIOSK_ID_RE.match(kiosk_id):
                self.stats.invalid += 1
                log.warning("message on a topic with an invalid kiosk id dropped")
                return
            assert intake is not None  # paho calls handlers only between start() and stop()
            if leaf == "txn":
                ack = intake.handle_txn(kiosk_id, msg.payload)
                if ack is not None:
                    self._publish(topics.topic(kiosk_id, "ack"), ack)
            elif leaf == "req":
                self._reply(kiosk_id, msg, intake.handle_request(kiosk_id, msg.payload))
            elif leaf == "state":
                intake.record_state(kiosk_id, msg.payload)
            elif leaf == "telemetry":
                intake.record_telemetry(kiosk_id, msg.payload)
            elif leaf == "cmd/result":
                self._command_result_arrived(kiosk_id, msg.payload)
        except Exception as exc:  # a worker never dies of one message
            self.stats.errors += 1
            log.error(
                "kiosk %s %s: handler failed: %s", safe_kiosk(kiosk_id), leaf or "?", type(exc).__name__
            )

    def _publish(self, topic_name: str, message: messages._Msg, properties: Properties | None = None) -> None:
        client = self._client
        if client is None:
            return
        client.publish(topic_name, messages.encode(message), qos=1, properties=properties)

    def _reply(self, kiosk_id: str, msg: mqtt.MQTTMessage, response: messages.Response) -> None:
        """Publish a response where the request asked (MQTT v5 ResponseTopic, with its
        CorrelationData), or on the kiosk's own `resp` topic when it named none usable."""
        props = msg.properties
        reply_to = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        if not isinstance(reply_to, str) or not reply_to or any(c in reply_to for c in "+#\0"):
            reply_to = topics.topic(kiosk_id, "resp")
        out = Properties(PacketTypes.PUBLISH)
        if isinstance(correlation, bytes | bytearray):
            out.CorrelationData = bytes(correlation)
        self._publish(reply_to, response, out)

    # ------------------------------------------------------------------ commands

    def send_command(self, kiosk_id: str, cmd: str | messages.Command) -> messages.Command:
        """Publish a command to a kiosk; its result arrives on `.../cmd/result` and
        `command_result(cmd_id)` waits for it."""
        if isinstance(cmd, str):
            cmd = messages.Command(cmd=cmd, cmd_id=f"c{int(time.time() * 1000)}-{secrets.token_hex(3)}")
        if not KIOSK_ID_RE.match(kiosk_id):
            raise ValueError(f"not a kiosk id: {kiosk_id!r}")
        with self._commands_lock:
            self._commands[cmd.cmd_id] = _CommandWait()
        self._publish(topics.topic(kiosk_id, "cmd"), cmd)
        return cmd

    def command_result(self, cmd_id: str, timeout: float = 10.0) -> messages.CommandResult | None:
        """The result of a command this worker sent, or None if none came within `timeout`
        (or the id is not one of this worker's commands)."""
        with self._commands_lock:
            wait = self._commands.get(cmd_id)
        if wait is None or not wait.event.wait(timeout):
            return None
        with self._commands_lock:
            self._commands.pop(cmd_id, None)
        return wait.result

    def _command_result_arrived(self, kiosk_id: str, raw: bytes) -> None:
        try:
            result = messages.parse(messages.CommandResult, raw)
        except messages.ProtocolError as exc:
            log.warning("kiosk %s: invalid command result: %s", kiosk_id, exc.reason)
            return
        with self._commands_lock:
            wait = self._commands.get(result.cmd_id)
        if wait is None:
            return  # another worker's command
        wait.result = result
        wait.event.set()
        log.info("kiosk %s: command %s ok=%s", kiosk_id, result.cmd_id, result.ok)
