"""The hub's MQTT worker: takes kiosk messages off the broker, hands them to
`hub.worker.intake`, publishes the acks and responses, and sends kiosks commands.

Several workers may run against one ledger and one broker: they subscribe through the
shared subscription group `$share/hub/...`, so the broker hands each message to one of
them, and the ledger's unique txn_id makes a message delivered twice (to one worker or
to two) commit once. Nothing a kiosk sends can crash a worker: every handler is wrapped,
and logs carry field names and reason codes, never card numbers or names.

Each worker keeps one persistent broker session (docs/ordering.md, "What the broker
does", has the measurements behind this):
- client id `hub-{worker}`, the same on every connect of every process, so a restarted
  worker gets back the session it left: `clean_start=False` on every connect (the first
  of a process too) and a session expiry of `session_expiry_s`;
- while a worker is away, Mosquitto keeps handing it its share of the shared messages
  and queues them in its session, with the ones it had received but not acknowledged;
  they are delivered (in order, the unacknowledged ones marked dup) when it comes back,
  never to the other workers. If it stays away longer than the expiry they are dropped
  and only the kiosks' resends bring them back;
- so two workers must never share a name: each connect takes the session from the
  other, which Mosquitto 2.0 simply disconnects (no "session taken over" reason), and
  the two throw each other off at paho's reconnect pace. A worker whose connections
  keep dying within seconds says so in an error log line (`name_clash` is set);
- a worker removed for good is `retire()`d (`python -m hub --worker NAME retire`),
  which handles what its session holds and then ends it;
- `stop()` keeps the session (a restart or a deploy loses nothing); subscriptions are
  made again in `on_connect` all the same, for a broker that lost its sessions.
- `stop()` ends within its bound (`STOP_S`, inside the 10 s a supervisor gives before
  SIGKILL) whatever the ledger's database does: a frozen or unreachable PostgreSQL has
  the calls waiting on it cut (hub/worker/assembly.py). What was not finished by then was
  neither acked nor PUBACKed, so the session holds it for this worker's return, and
  a txn that arrives once the stop has begun is left to the session too.

Txns are not committed on paho's thread: it hands each to the commit thread
(hub/worker/group_commit.py), which commits what has queued up as one batch and then
publishes the acks. The client runs with paho's `manual_ack`, so the broker's PUBACK of a
txn follows its commit (a worker killed mid-batch leaves the txn in its session, which
hands it back after the restart); every other message is PUBACKed once handled, as paho
would. A PUBACK names a message id of one connection, so acks due on a connection that
has since dropped are not sent: the broker sends those messages again. An error inside
paho's own loop ends no thread (contract/paho_thread.py): it counts as a lost connection
(logged, `stats.errors`), and the loop connects again, so a worker never sits in the
share group reading nothing while the broker queues its turns.

Periodic work beside the messages: each worker sweeps parked txns that waited too long
for a predecessor to staff (hub/worker/parked_sweeper.py, at start and then every few
minutes), and, with `[sip2]`, drains what members' systems are owed (hub/ils/ils_drainer.py).
What a worker is built of, and in which order, is hub/worker/assembly.py's: this module
only moves bytes between the broker and the intake it builds.
"""

from __future__ import annotations

import contextlib
import logging
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
from contract.paho_thread import keep_alive
from hub.config import HubConfig
from hub.ils.ils_drainer import IlsDrainer
from hub.ils.ils_operations import IlsGateway
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.sip2.settings import Sip2Settings
from hub.worker.assembly import HubParts, build_hub
from hub.worker.group_commit import Arrival
from hub.worker.intake import KIOSK_ID_RE, Intake, WorkerStats, safe_kiosk
from hub.worker.parked_sweeper import ParkedSweeper
from hub.worker.signer import HubSigner

log = logging.getLogger(__name__)

SHARE_GROUP = "hub"
# Shared (load-balanced) subscriptions, one per kiosk->hub leaf, and the QoS each is
# subscribed with. Requests at QoS 0: the broker hands a worker at most
# `max_inflight_messages` QoS 1 messages it has not PUBACKed, and a txn's PUBACK waits
# for its commit, so behind a backlog of txns (a fleet's morning catch-up) a QoS 1
# request waits for every txn queued before it to be committed; a QoS 0 one is sent at
# once, past the window (docs/ordering.md, "A reader behind the catch-up"). What QoS 0
# costs: a request in flight when a worker's connection drops is not sent again, which
# is what the kiosk's request timeout (3 s, then offline service) covers anyway: a
# request answered after it is thrown away.
SHARED_LEAVES = {"txn": 1, "req": 0, "state": 1, "telemetry": 1}
# Connections that die this soon after the CONNACK, this many times in a row, look like
# two processes taking one session from each other (or a broker that keeps failing).
_SHORT_LIVED_S = 5.0
_SHORT_LIVED_IN_A_ROW = 3
# How long `stop()` may take: under the 10 s a supervisor (hub/worker/worker_process.py,
# systemd's default is 90 s) waits after SIGTERM before its SIGKILL, with room for the exit.
STOP_S = 8.0


def client_id(worker: str) -> str:
    """The worker's MQTT client id: stable, so a restarted worker finds its session.
    The prefix keeps a worker from ever taking a kiosk's session (`kiosk-...`)."""
    return f"hub-{worker}"


def subscriptions() -> list[tuple[str, int]]:
    """What a worker subscribes to. Command results are a plain subscription: the worker
    that sent a command is the one waiting for its result, and they are few."""
    subs = [(f"$share/{SHARE_GROUP}/{topics.PREFIX}/kiosk/+/{leaf}", qos) for leaf, qos in SHARED_LEAVES.items()]
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
        sip2: Sip2Settings | None = None,
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
        # The ledger, the intake, the members' systems and the sweeper, between start()
        # and stop() (hub/worker/assembly.py builds them).
        self._parts: HubParts | None = None
        self._client: mqtt.Client | None = None
        self._subscribed = threading.Event()
        # Set when the connections keep dying right after connecting: most likely another
        # process runs under this worker's name (see the module doc).
        self.name_clash = threading.Event()
        self._connected_at: float | None = None
        self._short_lived = 0
        # A PUBACK names a message id of one connection: after a reconnect the broker
        # reuses ids, so acks of the connection before are dropped (it sends those again).
        self._ack_lock = threading.Lock()
        self._connection = 0
        self._commands: dict[str, _CommandWait] = {}
        self._commands_lock = threading.Lock()
        # None without `signing_key`; a key file that cannot be used fails here, at once.
        self._signer = HubSigner.from_config(self.config)
        # Members' own library systems (`[sip2]`): a pool and a drainer per system while
        # running (hub/ils/ils_operations.py, hub/ils/ils_drainer.py); none: the ledger alone.
        self.sip2 = sip2

    # ------------------------------------------------------------------ parts

    @property
    def ledger(self) -> Ledger | None:
        return self._parts.ledger if self._parts is not None else None

    @property
    def intake(self) -> Intake | None:
        return self._parts.intake if self._parts is not None else None

    @property
    def ils(self) -> IlsGateway | None:
        """The gateway to the members' systems of `[sip2]`; None without any."""
        return self._parts.ils if self._parts is not None else None

    @property
    def drainers(self) -> dict[str, IlsDrainer]:
        return self._parts.drainers if self._parts is not None else {}

    @property
    def sweeper(self) -> ParkedSweeper | None:
        """Parked txns older than `parked_max_age_h` go to staff (hub/worker/parked_sweeper.py)."""
        return self._parts.sweeper if self._parts is not None else None

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait: float | None = 10.0) -> HubService:
        """Open the ledger, connect, subscribe. With `wait`, block until the broker granted
        the subscriptions (TimeoutError otherwise); with None, return at once and let
        paho keep retrying in the background. ConfigError, before anything is opened, when
        the PIN pepper would live inside the ledger (`HubConfig.refuse_pepper_in_ledger`)."""
        if self._client is not None:
            return self
        self._parts = build_hub(
            self.db_url,
            self.registry,
            self.config,
            self.clock,
            self.stats,
            self.worker_name,
            send_ack=lambda kiosk_id, ack: self._publish(topics.topic(kiosk_id, "ack"), ack),
            sip2=self.sip2,
        )
        # manual_ack: paho would PUBACK a txn as soon as `_on_message` returns, before the
        # commit thread has committed it; the PUBACK follows the commit instead (`_puback_for`).
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id(self.worker_name),
            protocol=mqtt.MQTTv5,
            manual_ack=True,
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
            tls = self.config.tls
            client.tls_set(
                ca_certs=str(tls.ca) if tls.ca else None,  # None: the system's trust store
                certfile=str(tls.cert) if tls.cert else None,
                keyfile=str(tls.key) if tls.key else None,
            )
        keep_alive(client, lambda: self._connect(client), self._on_loop_error)
        self._connect(client)
        client.loop_start()
        self._parts.start_sweeping()
        if wait is not None and not self._subscribed.wait(wait):
            self.stop()
            raise TimeoutError(f"hub worker could not subscribe at {self.broker_url} within {wait}s")
        return self

    def stop(self, timeout_s: float = STOP_S) -> None:
        """Disconnect and close the ledger (idempotent), within about `timeout_s`. The
        broker keeps the session: what arrives meanwhile waits for this worker's return,
        with what was not settled by then (see the module doc)."""
        self._close(end_session=False, timeout_s=timeout_s)

    def retire(self, timeout: float = 10.0) -> None:
        """Leave the group for good: unsubscribe from the shared topics (everything the
        broker had queued for this worker comes before the UNSUBACK and is handled),
        then disconnect with a session expiry of 0, so the broker forgets the session
        and no longer hands it a share. For a worker that will not come back, and for
        tests that must not leave sessions behind on a shared broker."""
        client = self._client
        if client is not None and client.is_connected():
            done = threading.Event()
            client.on_unsubscribe = lambda *_: done.set()
            shared = [name for name, _qos in subscriptions() if name.startswith("$share/")]
            client.unsubscribe(shared)
            if not done.wait(timeout):
                log.warning("worker %s: no UNSUBACK within %ss", self.worker_name, timeout)
            self._settle_queued(timeout)  # the session ends with us: what it holds unPUBACKed would be dropped
        self._close(end_session=True)

    def _settle_queued(self, timeout: float) -> None:
        """Commit, ack and PUBACK the txns already handed to the commit thread."""
        parts = self._parts
        if parts is not None and not parts.committer.drain(timeout):
            log.warning("worker %s: txns still being committed after %ss", self.worker_name, timeout)

    def _close(self, end_session: bool, timeout_s: float = STOP_S) -> None:
        """Settle what is queued (half the bound at most: on a ledger that answers it takes
        milliseconds), disconnect, end paho's thread, then stop the parts. A handler of
        paho's thread waiting on a ledger that does not answer would hold `loop_stop()`
        for ever: the ledger's calls are cut a second before the bound, then the parts
        get that second (`HubParts.close` cuts what waits on the ledger at its own bound)."""
        deadline = time.monotonic() + timeout_s
        if not end_session and self._client is not None and self._client.is_connected():
            self._settle_queued(timeout_s / 2)  # their acks go out before the connection ends
        client, self._client = self._client, None
        parts, self._parts = self._parts, None
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic() - 1.0), parts.cut_ledger) if parts else None
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            if client is not None:
                try:
                    if end_session:
                        props = Properties(PacketTypes.DISCONNECT)
                        props.SessionExpiryInterval = 0
                        client.disconnect(properties=props)
                    else:
                        client.disconnect()
                finally:
                    client.loop_stop()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if parts is not None:
                parts.close(max(1.0, deadline - time.monotonic()))

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
        self._connected_at = time.monotonic()
        self._next_connection()
        present = bool(getattr(flags, "session_present", False))
        log.info(
            "worker %s: connected, %s",
            self.worker_name,
            "session resumed (what was queued for it follows)" if present else "new session",
        )
        # Subscribing here brings the subscriptions back after every reconnect, and after
        # a broker that lost its sessions (killed before it saved them, or expired).
        client.subscribe(subscriptions())

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("worker %s: subscriptions refused: %s", self.worker_name, failed)
            return
        self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._subscribed.clear()
        self._next_connection()
        connected_at, self._connected_at = self._connected_at, None
        if connected_at is not None and self._client is client:  # not our own stop()
            lasted = time.monotonic() - connected_at
            self._short_lived = self._short_lived + 1 if lasted < _SHORT_LIVED_S else 0
            if self._short_lived >= _SHORT_LIVED_IN_A_ROW and not self.name_clash.is_set():
                self.name_clash.set()
                log.error(
                    "worker %s: %d connections in a row lost within %.0f s of connecting: is "
                    "another worker running as %s? Every worker needs its own name "
                    "(--worker / config worker), or the two take the session from each other",
                    self.worker_name, self._short_lived, _SHORT_LIVED_S, client_id(self.worker_name),
                )  # fmt: skip
        if reason is not None and getattr(reason, "is_failure", False):
            log.warning("worker %s: disconnected (%s); paho reconnects", self.worker_name, reason)

    # ------------------------------------------------------------------ dispatch

    def _connect(self, client: mqtt.Client) -> None:
        # paho reuses clean_start and the properties on every reconnect; its default
        # (clean on the first connect of a process) would throw the session away.
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = self.config.session_expiry_s
        client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=session
        )

    def _on_loop_error(self, exc: BaseException) -> None:
        """paho's loop raised (contract/paho_thread.py): as a lost connection (paho's
        on_disconnect never ran): no PUBACK of this connection's messages goes out on the
        next one, whose broker sends them again; the loop connects again."""
        self._subscribed.clear()  # before anything else sees the error: not subscribed until SUBACK again
        self._next_connection()
        self._connected_at = None
        self.stats.count("errors")
        log.error("worker %s: paho's network loop failed (%s: %s); connecting again",
                  self.worker_name, type(exc).__name__, exc)  # fmt: skip

    def _next_connection(self) -> None:
        with self._ack_lock:
            self._connection += 1

    def _puback_for(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> Callable[[], None]:
        """The PUBACK of `msg`, to send once the hub is done with it (any thread); nothing
        once the connection it came on is gone (the broker sends the message again)."""
        if msg.qos == 0:
            return lambda: None
        mid, qos = msg.mid, msg.qos
        with self._ack_lock:
            connection = self._connection

        def puback() -> None:
            with self._ack_lock:
                if self._client is client and self._connection == connection:
                    client.ack(mid, qos)

        return puback

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Every message is PUBACKed once handled: a txn by the commit thread after its
        batch committed (hub/worker/group_commit.py), anything else here, on return."""
        if self._client is not client:  # stopping: a txn is left to the session, a request to its kiosk's retry
            return
        puback = self._puback_for(client, msg)
        handed_over = False
        kiosk_id = topics.kiosk_id_from_topic(msg.topic)
        leaf = msg.topic.split("/", 4)[4] if msg.topic.count("/") >= 4 else ""
        intake, parts = self.intake, self._parts
        try:
            if kiosk_id is None or not KIOSK_ID_RE.match(kiosk_id):
                self.stats.count("invalid")
                log.warning("message on a topic with an invalid kiosk id dropped")
                return
            assert intake is not None and parts is not None  # handlers run only between start() and stop()
            if leaf == "txn":
                parts.committer.submit(Arrival(kiosk_id, msg.payload, puback))
                handed_over = True
            elif leaf == "req":
                self._reply(kiosk_id, msg, intake.handle_request(kiosk_id, msg.payload))
            elif leaf == "state":
                intake.record_state(kiosk_id, msg.payload, retained=bool(msg.retain))
            elif leaf == "telemetry":
                intake.record_telemetry(kiosk_id, msg.payload)
            elif leaf == "cmd/result":
                self._command_result_arrived(kiosk_id, msg.payload)
        except Exception as exc:  # a worker never dies of one message
            self.stats.count("errors")
            log.error(
                "kiosk %s %s: handler failed: %s", safe_kiosk(kiosk_id), leaf or "?", type(exc).__name__
            )
        finally:
            if not handed_over:
                puback()

    def _publish(self, topic_name: str, message: messages._Msg, properties: Properties | None = None) -> None:
        client = self._client
        if client is None:
            return
        payload = messages.encode(message)
        if self._signer is not None:  # every ack, resp and cmd leaves through here
            properties = self._signer.properties_for(topic_name, message, payload, properties)
        client.publish(topic_name, payload, qos=1, properties=properties)

    def _reply(self, kiosk_id: str, msg: mqtt.MQTTMessage, response: messages.Response) -> None:
        """Publish a response on the kiosk's own `resp` topic (the one of the topic the
        request came on), with the request's CorrelationData. The request's ResponseTopic
        is never followed: a client could name another kiosk's `resp` and have the hub
        answer there (docs/security.md, "Hub-side checks")."""
        props = msg.properties
        asked = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        reply_to = topics.topic(kiosk_id, "resp")
        if asked is not None and asked != reply_to:
            log.warning("kiosk %s: request named another ResponseTopic; answered on its own", kiosk_id)
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
