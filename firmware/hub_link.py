"""The kiosk's link to the alliance hub over MQTT 5 (DESIGN.md, "MQTT contract").

What a caller may rely on:
- `request()` always ends in exactly one event for its correlation id: `HubAnswered`, or
  `HubTimedOut` after `request_timeout_s` (at once when the link is down, and when the
  link drops while waiting). A late answer is dropped.
- The outbox pump publishes journal rows in journal order, QoS 1, up to `window` rows
  waiting for the hub's ack at a time. A row is done only on the hub's ack on `.../ack`
  (never on a broker PUBACK); then the journal is updated and `TxnAcked` posted.
- `LinkChanged(True)` is posted once the broker has confirmed the kiosk's subscriptions
  (ack, resp, cmd), so nothing the hub sends from then on is missed.
- `post` is called from the link's own threads (paho's network thread and the pump);
  it must be thread-safe (e.g. `queue.Queue.put`).

Reconnects: paho's exponential backoff (`reconnect_delay_set(0.5..30 s)`). paho has no
jitter, so each link starts its backoff at a random 0.5-1.0 s: a fleet of kiosks that
lost the broker together does not come back in lock-step, and the doubling keeps them
apart. The session is persistent (`clean_start=False` on every connect, including the
first of a process, with a session expiry interval) so acks and commands queued by the
broker while the kiosk was away, even across a kiosk restart, are delivered.

Known limit: after a reconnect paho resends its own unacknowledged publishes before the
pump resends from the oldest unacked row, so the hub may see a few rows twice and, when
the broker itself lost messages, slightly out of order; the hub's unique `txn_id` makes
repeats harmless.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    HubAnswered,
    HubTimedOut,
    JournalDepth,
    JournalFailed,
    LinkChanged,
    TxnAcked,
)
from firmware.journal import DEFAULT_RESEND_AFTER_S, Journal, JournalError
from hub import protocol
from hub.protocol import Ack, Command, CommandResult, KioskState, ProtocolError, Response, Telemetry

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
BLOCKLIST_CORR_PREFIX = "_blocklist-"


@dataclass(frozen=True)
class TlsFiles:
    """Files for an mqtts:// link; `ca` None means the system's trust store."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://host[:1883]` or `mqtts://host[:8883]`; ValueError in plain words otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{url!r} is not an mqtt:// or mqtts:// URL")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return BrokerAddress(parts.hostname, port, tls)


def _nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Without TCP_NODELAY a QoS 1 round trip costs ~88 ms of Nagle/delayed-ACK waits."""
    with contextlib.suppress(OSError, AttributeError):  # not a TCP socket: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HubLink:
    """One kiosk's MQTT link: requests, the journal's outbox, state, telemetry, commands."""

    def __init__(
        self,
        broker_url: str,
        kiosk_id: str,
        library_id: str,
        post: Callable[[object], None],
        *,
        firmware_version: str,
        username: str | None = None,
        password: str | None = None,
        tls: TlsFiles | None = None,
        request_timeout_s: float = 3.0,
        telemetry_interval_s: float = 30.0,
        telemetry: Callable[[], Telemetry] | None = None,
        journal: Journal | None = None,
        window: int = 100,
        resend_after_s: float = DEFAULT_RESEND_AFTER_S,
        depth_interval_s: float = 5.0,
        fetch_blocklist: bool = True,
        keepalive_s: int = 30,
    ) -> None:
        self._address = parse_broker_url(broker_url)
        self.kiosk_id = kiosk_id
        self.library_id = library_id
        self._post = post
        self._firmware = firmware_version
        self._request_timeout_s = request_timeout_s
        self._telemetry_interval_s = telemetry_interval_s
        self._telemetry = telemetry
        self._journal = journal
        self._window = window
        self._resend_after_s = resend_after_s
        self._depth_interval_s = depth_interval_s
        self._fetch_blocklist = fetch_blocklist
        self._keepalive_s = keepalive_s
        self._topics = {
            leaf: protocol.topic(kiosk_id, leaf)
            for leaf in ("state", "txn", "ack", "req", "resp", "telemetry", "cmd", "cmd/result")
        }

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = False
        self._announced: bool | None = None  # last LinkChanged posted
        self._state: Literal["online", "maintenance"] = "online"
        self._pending: dict[str, float] = {}  # corr_id -> monotonic deadline
        self._acks: deque[Ack] = deque()
        self._inflight: dict[str, float] = {}  # txn_id -> monotonic time published
        self._requeue = False
        self._journal_fault: str | None = None
        self._journal_retry_at = 0.0
        self._last_depth: int | None = None
        self._next_depth_at = 0.0
        self._next_telemetry_at = 0.0
        self._started_at = 0.0
        self._started = False
        self._stopped = False
        self._pump: threading.Thread | None = None
        self._subscribe_mid: int | None = None
        self._client = self._make_client(username, password, tls)

    # ---- setup ----

    def _make_client(
        self, username: str | None, password: str | None, tls: TlsFiles | None
    ) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"kiosk-{self.kiosk_id}",
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if self._address.tls:
            tls = tls or TlsFiles()
            client.tls_set(
                ca_certs=str(tls.ca) if tls.ca else None,
                certfile=str(tls.cert) if tls.cert else None,
                keyfile=str(tls.key) if tls.key else None,
            )
        client.will_set(
            self._topics["state"],
            protocol.encode(
                KioskState(state="offline", firmware=self._firmware, library_id=self.library_id)
            ),
            qos=1,
            retain=True,
        )
        client.reconnect_delay_set(min_delay=0.5 + random.random() * 0.5, max_delay=30)  # type: ignore[arg-type]
        client.max_inflight_messages_set(max(20, self._window))
        client.on_socket_open = _nodelay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start the
        pump; events report what happens. Calling it twice is harmless."""
        if self._started:
            return
        self._started = True
        self._started_at = time.monotonic()
        self._next_telemetry_at = self._started_at + self._telemetry_interval_s
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=self._keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        self._pump = threading.Thread(target=self._pump_loop, name="hub-link-pump", daemon=True)
        self._pump.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Say "offline" (retained), disconnect and stop the threads; idempotent. Pending
        requests end in HubTimedOut; the journal keeps every unacked row."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        self._stopping.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout)
        if self._connected:
            info = self._publish_state_msg("offline")
            if info is not None:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected = False
        self._fail_pending_requests()
        self._announce(False)

    def __enter__(self) -> HubLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the shell calls ----

    def request(self, corr_id: str, request_model: BaseModel) -> None:
        """Send a request on `.../req`; the answer (or the timeout) arrives as an event."""
        if not self._connected or self._stopping.is_set():
            self._post(HubTimedOut(corr_id))
            return
        with self._lock:
            self._pending[corr_id] = time.monotonic() + self._request_timeout_s
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._topics["resp"]
        props.CorrelationData = corr_id.encode("utf-8")
        info = self._client.publish(
            self._topics["req"], protocol.encode(request_model), qos=1, properties=props
        )
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._time_out(corr_id)
        self._wake.set()

    def notify_new_txn(self) -> None:
        """A row was recorded: publish it now rather than at the next pump tick."""
        self._wake.set()

    def publish_state(self, state: Literal["online", "maintenance"]) -> None:
        """Set the retained state (kept and re-sent on every reconnect)."""
        self._state = state
        if self._connected:
            self._publish_state_msg(state)

    def publish_command_result(self, result: CommandResult) -> None:
        self._client.publish(self._topics["cmd/result"], protocol.encode(result), qos=1)

    # ---- paho callbacks (paho's network thread) ----

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("hub broker refused the connection: %s", reason)
            self._announce(False)
            return
        _rc, mid = client.subscribe(
            [(self._topics["ack"], 1), (self._topics["resp"], 1), (self._topics["cmd"], 1)]
        )
        self._subscribe_mid = mid  # online once the broker confirms: see _on_subscribe

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any, _props: Any
    ) -> None:
        """Announce the link only now, so nothing the hub sends from then on is missed."""
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if getattr(r, "is_failure", False)]
        if refused:
            log.error("the broker refused the kiosk's subscriptions: %s", ", ".join(refused))
        self._publish_state_msg(self._state)
        with self._lock:
            self._connected = True
            self._requeue = True
            self._inflight.clear()
        log.info("hub link up (%s:%s)", self._address.host, self._address.port)
        self._announce(True)
        self._next_telemetry_at = time.monotonic()  # say how we are right after (re)connecting
        if self._fetch_blocklist:
            self.request(
                f"{BLOCKLIST_CORR_PREFIX}{time.monotonic_ns()}", protocol.Blocklist(op="blocklist")
            )
        self._wake.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._announce(False)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        with self._lock:
            self._connected = False
            self._inflight.clear()
        if not self._stopping.is_set():
            log.warning("hub link down: %s", reason)
        self._fail_pending_requests()
        self._announce(False)
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self._topics["ack"]:
                self._acks.append(protocol.parse(Ack, msg.payload))
                self._wake.set()
            elif msg.topic == self._topics["resp"]:
                self._on_response(msg)
            elif msg.topic == self._topics["cmd"]:
                cmd = protocol.parse(Command, msg.payload)
                self._post(CommandReceived(cmd.cmd, cmd.cmd_id))
        except ProtocolError as exc:
            log.warning("ignored a message on %s: %s", msg.topic, exc.reason)
        except Exception:  # a bug here must not kill paho's network thread
            log.exception("failed to handle a message on %s", msg.topic)

    def _on_response(self, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        if not corr:
            log.warning("ignored a response without correlation data")
            return
        corr_id = bytes(corr).decode("utf-8", errors="replace")
        response = protocol.parse(Response, msg.payload)
        with self._lock:
            waiting = self._pending.pop(corr_id, None) is not None
        if not waiting:
            log.debug("dropped a late or unknown answer %s", corr_id)
            return
        if corr_id.startswith(BLOCKLIST_CORR_PREFIX):
            if response.ok and response.blocked_hashes is not None:
                self._post(
                    BlocklistUpdated(frozenset(response.blocked_hashes), response.offline_max_items)
                )
            return
        self._post(HubAnswered(corr_id, response))

    # ---- helpers ----

    def _publish_state_msg(self, state: str) -> mqtt.MQTTMessageInfo | None:
        msg = KioskState(
            state=state,  # type: ignore[arg-type]
            firmware=self._firmware,
            library_id=self.library_id,
            at=datetime.now(UTC),
        )
        try:
            return self._client.publish(
                self._topics["state"], protocol.encode(msg), qos=1, retain=True
            )
        except (ValueError, RuntimeError):
            log.exception("could not publish the kiosk state")
            return None

    def _announce(self, online: bool) -> None:
        with self._lock:
            if self._announced == online:
                return
            self._announced = online
        self._post(LinkChanged(online))

    def _time_out(self, corr_id: str) -> None:
        with self._lock:
            waiting = self._pending.pop(corr_id, None) is not None
        if waiting and not corr_id.startswith(BLOCKLIST_CORR_PREFIX):
            self._post(HubTimedOut(corr_id))

    def _fail_pending_requests(self) -> None:
        with self._lock:
            corr_ids = list(self._pending)
        for corr_id in corr_ids:
            self._time_out(corr_id)

    # ---- the pump thread: timeouts, acks, outbox, depth, telemetry ----

    def _pump_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._pump_once()
            except Exception:  # keep pumping: the next tick may succeed
                log.exception("hub link pump failed")
                time.sleep(0.5)
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        now = time.monotonic()
        deadlines = [self._next_telemetry_at, self._next_depth_at if self._journal is not None else now + 1.0, now + 1.0]
        with self._lock:
            if self._pending:
                deadlines.append(min(self._pending.values()))
        return max(0.0, min(deadlines) - now)

    def _pump_once(self) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [c for c, deadline in self._pending.items() if deadline <= now]
        for corr_id in expired:
            self._time_out(corr_id)
        if self._journal is not None:
            self._pump_journal(now)
        if now >= self._next_telemetry_at:
            self._next_telemetry_at = now + self._telemetry_interval_s
            self._send_telemetry()

    def _pump_journal(self, now: float) -> None:
        journal = self._journal
        assert journal is not None
        if self._journal_fault is not None and now < self._journal_retry_at:
            return
        try:
            self._apply_acks(journal)
            if self._connected:
                self._fill_window(journal, now)
            if now >= self._next_depth_at:
                self._post_depth(journal, now, force=False)
            self._journal_fault = None
        except JournalError as exc:
            self._journal_retry_at = now + 5.0
            if self._journal_fault != exc.code:
                self._journal_fault = exc.code
                log.error("journal failed: %s", exc)
                self._post(JournalFailed(exc.code, exc.hint))

    def _apply_acks(self, journal: Journal) -> None:
        acks: list[Ack] = []
        while self._acks:
            acks.append(self._acks.popleft())
        if not acks:
            return
        try:
            changed = journal.mark_acked_many(acks)
        except JournalError:
            self._acks.extendleft(reversed(acks))  # keep them for the retry
            raise
        with self._lock:
            for ack in acks:
                self._inflight.pop(ack.txn_id, None)
        for ack in changed:
            self._post(TxnAcked(ack.txn_id, ack))
        self._next_depth_at = min(self._next_depth_at, time.monotonic() + 0.5)

    def _fill_window(self, journal: Journal, now: float) -> None:
        with self._lock:
            requeue, self._requeue = self._requeue, False
            stale = [t for t, at in self._inflight.items() if now - at >= self._resend_after_s]
            for txn_id in stale:
                del self._inflight[txn_id]
        if requeue:
            journal.requeue_sent()
        while self._connected and not self._stopping.is_set():
            with self._lock:
                room = self._window - len(self._inflight)
                busy = set(self._inflight)
            if room <= 0:
                return
            rows = [
                (t, p)
                for t, p in journal.next_to_send_raw(
                    room + len(busy), resend_after_s=self._resend_after_s
                )
                if t not in busy
            ][:room]
            if not rows:
                return
            published: list[str] = []
            for txn_id, payload in rows:
                info = self._client.publish(self._topics["txn"], payload, qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                published.append(txn_id)
            with self._lock:
                sent_at = time.monotonic()
                for txn_id in published:
                    self._inflight[txn_id] = sent_at
            journal.mark_sent(published)
            if len(published) < len(rows):
                return

    def _post_depth(self, journal: Journal, now: float, *, force: bool) -> None:
        self._next_depth_at = now + self._depth_interval_s
        depth = journal.depth()
        if force or depth != self._last_depth or depth:
            self._last_depth = depth
            self._post(JournalDepth(depth, journal.oldest_pending_age_s()))

    def _send_telemetry(self) -> None:
        if not self._connected:
            return
        pending, oldest, draining = 0, None, False
        if self._journal is not None:
            try:
                pending = self._journal.depth()
                oldest = self._journal.oldest_pending_age_s()
            except JournalError:
                pass
            with self._lock:
                draining = pending > 0 and bool(self._inflight)
        extra: dict[str, Any] = {
            "journal_pending": pending,
            "journal_oldest_pending_s": oldest,
            "backlog_draining": draining,
            "at": datetime.now(UTC),
        }
        try:
            base = self._telemetry() if self._telemetry is not None else None
        except Exception:
            log.exception("telemetry source failed")
            base = None
        if base is None:
            extra["uptime_s"] = round(time.monotonic() - self._started_at, 1)
            msg = Telemetry(**extra)
        else:
            msg = base.model_copy(update=extra)
        self._client.publish(self._topics["telemetry"], protocol.encode(msg), qos=0)
