"""The kiosk's one MQTT 5 connection to the broker, shared by the link's three parts.

What a caller may rely on:
- One paho client (`CallbackAPIVersion.VERSION2`, MQTT 5, the client id it is given),
  TCP_NODELAY on its socket, TLS for an mqtts:// address, and the last will it is given
  (the retained "offline" state), set before the first connect.
- The session is persistent: `clean_start=False` on every connect, the first of a
  process included, with a session expiry of `SESSION_EXPIRY_S`, so what the broker
  queued for the kiosk while it was away (acks, commands), even across a kiosk restart,
  is delivered.
- The `subscriptions` are subscribed on every connect, QoS 1, in one SUBSCRIBE, in the
  order given. A message on a topic is handed to the handler registered with
  `on_message`, on paho's network thread. A handler raising `ProtocolError` is logged as
  an ignored message; any other exception is logged and the thread carries on.
- After the broker has confirmed the subscriptions (SUBACK), `connected` turns True, the
  `when_up` callbacks run in the order registered, then `LinkChanged(True)` is posted:
  nothing the hub sends from then on is missed. On a lost connection (and on `stop`),
  `connected` turns False, the `when_down` callbacks run, then `LinkChanged(False)` is
  posted. LinkChanged is posted only when the answer changes.
- paho's network thread survives an error inside paho (contract/paho_thread.py): the
  link is reported down (`connected` False, the `when_down` callbacks, LinkChanged(False))
  and connected again on the same thread, as after a lost connection.
- `usable` is False once `begin_close()` was called: the parts start no new work then,
  while a last message (the "offline" state) can still be published until `stop()`.

A dead route is noticed by MQTT keepalive (`keepalive_s`, default `KEEPALIVE_S` = 4 s):
paho sends a PINGREQ once nothing has come in (or gone out) for `keepalive_s` and
drops the connection when nothing has come back `keepalive_s` after that, so a route
that silently drops every packet (a dead 4G route: no reset, no error) is known down
between `keepalive_s` and about 2 x `keepalive_s` + 1 s after it died (paho looks once a second):
4-9 s at the default, about 5 s measured. The broker, for its part, drops a kiosk it
has not heard from for 1.5 x `keepalive_s` and publishes its will. The price is on
the data plan: an idle kiosk exchanges a PINGREQ and a PINGRESP (2 bytes each, a
24-byte TLS record each, measured) every `keepalive_s`; with TCP/IP headers and the
ACK, about 200 bytes a round: about 4.4 MB a day, 130 MB a month at 4 s, on top of
telemetry (about 45 MB a month at one message every 30 s). `[hub] keepalive_s` trades
one for the other (10 s: known down within about 21 s, the pings about 50 MB a month).

Reconnects: the first try after a lost connection waits a random 0.25-0.5 s, every
later one a random 0.5-1.5 s (`RECONNECT_MAX_S` x 0.5-1.5, drawn again for every try:
`next_reconnect_wait`): while the route is down the kiosk tries about once a second,
so it is back within about 1.5 s of the route coming back (the kiosk cannot know
when that is; trying often is the only way). A try costs the kiosk a TCP connect and
a TLS ClientHello (well under 1 kB; a refused one a SYN and a reset), so a long
outage costs at most a few MB a day of the data plan, and a broker that is down
nothing (its host refuses); when a broker
comes back, every kiosk of the alliance connects within the next second (a TLS
handshake each, a few milliseconds of the broker's CPU: fine for hundreds of kiosks).
The wait is drawn again for every try because the fleet is resynchronised by the
very events that make reconnects: a broker restart drops every kiosk at one moment, and
an overloaded broker times out many handshakes at one moment. With paho's own backoff
(one random first wait, then doubling to a fixed 1 s) those kiosks stay in step,
arriving together every second, each wave as big as the last; a fresh draw spreads
them over a second within a try or two (tests/firmware/hub_link/test_reconnect_jitter.py;
bench/fleet.py measures the fleet's return after a broker SIGKILL). A TLS handshake that gets no answer (a black hole) is given up after
`CONNECT_TIMEOUT_S`; paho's network thread waits that long, nothing else does.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.broker_url import BrokerAddress
from contract.messages import MAX_PAYLOAD_BYTES, ProtocolError
from contract.paho_thread import keep_alive
from firmware.core.events import LinkChanged

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
KEEPALIVE_S = 4
RECONNECT_MIN_S = 0.25  # the first wait is 0.25-0.5 s (random)...
RECONNECT_MAX_S = 1.0  # ...every later one 0.5-1.5 x this, drawn again for each try
CONNECT_TIMEOUT_S = 5.0  # TCP connect and TLS handshake, each (paho's default)

Handler = Callable[[mqtt.MQTTMessage], None]


@dataclass(frozen=True)
class TlsFiles:
    """Files for an mqtts:// link; `ca` None means the system's trust store."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


def next_reconnect_wait(failed_tries: int, rng: random.Random) -> float:
    """Seconds before the next reconnect try: after a lost connection (no failed try
    yet) 0.25-0.5 s, after a failed try 0.5-1.5 s, drawn from `rng` every time."""
    if failed_tries == 0:
        return RECONNECT_MIN_S * (1 + rng.random())
    return RECONNECT_MAX_S * (0.5 + rng.random())


def _nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Without TCP_NODELAY a QoS 1 round trip costs ~88 ms of Nagle/delayed-ACK waits."""
    with contextlib.suppress(OSError, AttributeError):  # not a TCP socket: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Connection:
    """The paho client, its session and subscriptions, and the link's up/down news."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        post: Callable[[object], None],
        *,
        will: tuple[str, bytes],
        subscriptions: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        tls: TlsFiles | None = None,
        keepalive_s: int = KEEPALIVE_S,
        max_inflight: int = 20,
    ) -> None:
        self.address = address
        self._post = post
        self._subscriptions = list(subscriptions)
        self._keepalive_s = keepalive_s
        self._handlers: dict[str, Handler] = {}
        self._when_up: list[Callable[[], None]] = []
        self._when_down: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._connected = False
        self._closing = threading.Event()
        self._announced: bool | None = None  # the last LinkChanged posted
        self._subscribe_mid: int | None = None

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            client.username_pw_set(username, password)
        if address.tls:
            tls = tls or TlsFiles()
            client.tls_set(
                ca_certs=str(tls.ca) if tls.ca else None,
                certfile=str(tls.cert) if tls.cert else None,
                keyfile=str(tls.key) if tls.key else None,
            )
        will_topic, will_payload = will
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        self._rng = random.Random()
        self._failed_tries = 0  # since the link was last up: which wait comes next
        self._set_next_wait(client)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_inflight_messages_set(max_inflight)
        client.on_socket_open = _nodelay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        keep_alive(client, self._connect, self._on_loop_error)
        self._client = client

    # ---- what the parts use ----

    def on_message(self, topic: str, handler: Handler) -> None:
        """Hand messages on `topic` (one of the subscriptions) to `handler`."""
        self._handlers[topic] = handler

    def when_up(self, callback: Callable[[], None]) -> None:
        self._when_up.append(callback)

    def when_down(self, callback: Callable[[], None]) -> None:
        self._when_down.append(callback)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def usable(self) -> bool:
        """Connected, subscribed and not closing: new work may be published."""
        return self._connected and not self._closing.is_set()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        if len(payload) > MAX_PAYLOAD_BYTES:
            # The alliance broker refuses it, and its PUBACK makes paho drop the link and
            # send it again on every reconnect: never put it on the wire.
            log.error("not sent: %d bytes on %s, over the contract's %d", len(payload), topic, MAX_PAYLOAD_BYTES)
            info = mqtt.MQTTMessageInfo(0)
            info.rc = MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
            return info
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    # ---- starting and stopping ----

    def start(self) -> None:
        """Connect in the background, retrying until the broker answers."""
        self._connect()
        self._client.loop_start()

    def _connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=self._keepalive_s,
            clean_start=False,
            properties=props,
        )

    def begin_close(self) -> None:
        """From now on `usable` is False; the connection itself stays up until `stop`."""
        self._closing.set()

    def stop(self) -> None:
        """Disconnect and stop paho's thread; reports the link down. Idempotent."""
        self._closing.set()
        self._client.disconnect()
        self._client.loop_stop()
        self._went_down()

    # ---- paho callbacks (paho's network thread) ----

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("hub broker refused the connection: %s", reason)
            self._announce(False)
            return
        _rc, mid = client.subscribe([(t, 1) for t in self._subscriptions])
        self._subscribe_mid = mid  # up once the broker confirms: see _on_subscribe

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any, _props: Any
    ) -> None:
        """Announce the link only now, so nothing the hub sends from then on is missed."""
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if getattr(r, "is_failure", False)]
        if refused:
            log.error("the broker refused the kiosk's subscriptions: %s", ", ".join(refused))
        self._failed_tries = 0
        with self._lock:
            self._connected = True
        log.info("hub link up (%s:%s)", self.address.host, self.address.port)
        self._run(self._when_up)
        self._announce(True)

    def _on_connect_fail(self, client: mqtt.Client, _userdata: Any) -> None:
        self._failed_tries += 1
        self._set_next_wait(client)
        self._announce(False)

    def _on_disconnect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._failed_tries = self._failed_tries + 1 if not self._connected else 0
        self._set_next_wait(client)
        if self._closing.is_set():
            pass
        elif self._connected:
            log.warning("hub link down: %s", reason)
        else:  # a reconnect that failed: once a second while the route is down
            log.debug("hub broker still unreachable: %s", reason)
        self._went_down()

    def _on_loop_error(self, exc: BaseException) -> None:
        """paho's loop raised (contract/paho_thread.py): say so, and that the link is down
        (paho's on_disconnect never ran); the loop connects again."""
        log.error("hub link: paho's network loop failed (%s: %s); connecting again", type(exc).__name__, exc)
        self._went_down()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(msg.topic)
        if handler is None:
            log.debug("no handler for a message on %s", msg.topic)
            return
        try:
            handler(msg)
        except ProtocolError as exc:
            log.warning("ignored a message on %s: %s", msg.topic, exc.reason)
        except Exception:  # a bug here must not kill paho's network thread
            log.exception("failed to handle a message on %s", msg.topic)

    # ---- helpers ----

    def _set_next_wait(self, client: mqtt.Client) -> None:
        """Tell paho how long its next reconnect wait is: min == max makes paho wait
        exactly that (and forget its doubling), so every try gets a fresh draw."""
        wait = next_reconnect_wait(self._failed_tries, self._rng)
        client.reconnect_delay_set(min_delay=wait, max_delay=wait)  # type: ignore[arg-type]

    def _went_down(self) -> None:
        with self._lock:
            self._connected = False
        self._run(self._when_down)
        self._announce(False)

    @staticmethod
    def _run(callbacks: list[Callable[[], None]]) -> None:
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one part's bug must not keep the others from hearing it
                log.exception("hub link callback %r failed", callback)

    def _announce(self, online: bool) -> None:
        with self._lock:
            if self._announced == online:
                return
            self._announced = online
        self._post(LinkChanged(online))
