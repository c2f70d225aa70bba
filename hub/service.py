"""The hub's MQTT worker: commits kiosk transactions, answers kiosk requests, keeps fleet
status, sends commands.

Several workers may run against one ledger and one broker: they subscribe through the
shared subscription group `$share/hub/...`, so the broker hands each message to one of
them, and the ledger's unique txn_id makes a message delivered twice (to one worker or
to two) commit once. Nothing a kiosk sends can crash a worker: every handler is wrapped,
and logs carry field names and reason codes, never card numbers or names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub import protocol
from hub.config import HubConfig, parse_broker_url
from hub.ledger import Ledger

log = logging.getLogger("hub.service")

SHARE_GROUP = "hub"
# Shared (load-balanced) subscriptions, one per kiosk->hub leaf.
SHARED_LEAVES = ("txn", "req", "state", "telemetry")
_KIOSK_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TXN_ID_RE = re.compile(r"^[0-9A-Za-z_-]{10,64}$")
# Reasons only the hub gives (the rest are rules.REASONS).
HUB_REASONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "not_on_loan": (
            "这本书不在您的借阅记录里，不能续借。",
            "This book is not on loan to you, so it cannot be renewed.",
        ),
        "card_required": ("请先刷读者卡。", "Please tap your reader card first."),
    }
)


def subscriptions() -> list[tuple[str, int]]:
    """What a worker subscribes to. Command results are a plain subscription: the worker
    that sent a command is the one waiting for its result, and they are few."""
    subs = [(f"$share/{SHARE_GROUP}/{protocol.PREFIX}/kiosk/+/{leaf}", 1) for leaf in SHARED_LEAVES]
    subs.append((f"{protocol.PREFIX}/kiosk/+/cmd/result", 1))
    return subs


@dataclass
class WorkerStats:
    """Counters a test or an operator can read; only the paho thread writes them."""

    txns: int = 0
    committed: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    invalid: int = 0
    errors: int = 0
    fleet_updates: int = 0


@dataclass
class _CommandWait:
    event: threading.Event = field(default_factory=threading.Event)
    result: protocol.CommandResult | None = None


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """TCP_NODELAY: without it every QoS 1 round trip waits ~88 ms (Nagle vs delayed ACK)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _paho_log(client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
    if level == mqtt.MQTT_LOG_ERR:
        log.error("paho: %s", buf[:200])
    elif level == mqtt.MQTT_LOG_WARNING:
        log.warning("paho: %s", buf[:200])


def safe_kiosk(kiosk_id: str | None) -> str:
    """The kiosk id for a log line, or a placeholder when the topic held anything else
    (a hostile topic could carry a card number)."""
    return kiosk_id if kiosk_id and _KIOSK_RE.match(kiosk_id) else "<invalid-kiosk-id>"


def recover_txn_id(raw: bytes) -> str | None:
    """The txn_id of a payload that failed validation, when one is there and well formed,
    so the kiosk gets a rejection instead of retrying for ever."""
    if len(raw) > protocol.MAX_PAYLOAD_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        txn_id = data.get("txn_id")
        if isinstance(txn_id, str) and _TXN_ID_RE.match(txn_id):
            return txn_id
    return None


class HubService:
    """One hub worker. `start()` connects and returns once subscribed; `stop()` is
    idempotent. Handlers run on paho's network thread."""

    def __init__(
        self,
        broker_url: str,
        db_url: str,
        registry: Any,
        worker_name: str = "hub-1",
        config: HubConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.host, self.port = parse_broker_url(broker_url)
        self.db_url = db_url
        self.registry = registry
        self.worker_name = worker_name
        self.config = config or HubConfig()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.local_tz = timezone(timedelta(hours=self.config.utc_offset_hours))
        self.stats = WorkerStats()
        self.ledger: Ledger | None = None
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
        kiosk_id = protocol.kiosk_id_from_topic(msg.topic)
        leaf = msg.topic.split("/", 4)[4] if msg.topic.count("/") >= 4 else ""
        try:
            if kiosk_id is None or not _KIOSK_RE.match(kiosk_id):
                self.stats.invalid += 1
                log.warning("message on a topic with an invalid kiosk id dropped")
                return
            if leaf == "txn":
                self._handle_txn_message(kiosk_id, msg.payload)
            elif leaf == "req":
                self._handle_request_message(kiosk_id, msg)
            elif leaf == "state":
                self._handle_state(kiosk_id, msg.payload)
            elif leaf == "telemetry":
                self._handle_telemetry(kiosk_id, msg.payload)
            elif leaf == "cmd/result":
                self._handle_command_result(kiosk_id, msg.payload)
        except Exception as exc:  # a worker never dies of one message
            self.stats.errors += 1
            log.error(
                "kiosk %s %s: handler failed: %s", safe_kiosk(kiosk_id), leaf or "?", type(exc).__name__
            )

    def _publish(self, topic_name: str, message: protocol._Msg, properties: Properties | None = None) -> None:
        client = self._client
        if client is None:
            return
        client.publish(topic_name, protocol.encode(message), qos=1, properties=properties)

    # ------------------------------------------------------------------ transactions

    def _handle_txn_message(self, kiosk_id: str, raw: bytes) -> None:
        ack = self.handle_txn(kiosk_id, raw)
        if ack is not None:
            self._publish(protocol.topic(kiosk_id, "ack"), ack)

    def handle_txn(self, kiosk_id: str, raw: bytes) -> protocol.Ack | None:
        """The ack for one txn payload received on kiosk_id's topic, or None when the
        payload has no recoverable txn_id to answer to. Commits when valid."""
        self.stats.txns += 1
        try:
            txn = protocol.parse(protocol.Txn, raw)
        except protocol.ProtocolError as exc:
            self.stats.invalid += 1
            txn_id = recover_txn_id(raw)
            log.warning("kiosk %s: invalid txn %s: %s", kiosk_id, txn_id or "(no txn_id)", exc.reason)
            if txn_id is None:
                return None
            self.stats.rejected += 1
            return protocol.Ack(txn_id=txn_id, result="rejected", reason=exc.reason[:300])
        if txn.kiosk_id != kiosk_id:
            self.stats.rejected += 1
            log.warning("kiosk %s: txn %s names another kiosk; rejected", kiosk_id, txn.txn_id)
            return protocol.Ack(txn_id=txn.txn_id, result="rejected", reason="kiosk_id does not match topic")
        if txn.library_id not in self.registry.members:
            self.stats.rejected += 1
            log.warning("kiosk %s: txn %s from unknown library; rejected", kiosk_id, txn.txn_id)
            return protocol.Ack(txn_id=txn.txn_id, result="rejected", reason="library_unknown")
        assert self.ledger is not None
        ack = self.ledger.commit_txn(txn, self.registry, self.clock())
        if ack.result == "committed":
            self.stats.committed += 1
        elif ack.result == "duplicate":
            self.stats.duplicates += 1
        else:
            self.stats.rejected += 1
        if ack.exception:
            log.info("kiosk %s: txn %s committed as exception %s", kiosk_id, txn.txn_id, ack.exception)
        return ack

    # ------------------------------------------------------------------ requests

    def _handle_request_message(self, kiosk_id: str, msg: mqtt.MQTTMessage) -> None:
        response = self.handle_request(kiosk_id, msg.payload)
        props = msg.properties
        reply_to = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        if not isinstance(reply_to, str) or not reply_to or any(c in reply_to for c in "+#\0"):
            reply_to = protocol.topic(kiosk_id, "resp")
        out = Properties(PacketTypes.PUBLISH)
        if isinstance(correlation, bytes | bytearray):
            out.CorrelationData = bytes(correlation)
        self._publish(reply_to, response, out)

    def handle_request(self, kiosk_id: str, raw: bytes) -> protocol.Response:
        """The answer to one request payload (a failed request is `ok=False`, never raised)."""
        self.stats.requests += 1
        try:
            request = protocol.parse_request(raw)
        except protocol.ProtocolError as exc:
            self.stats.invalid += 1
            log.warning("kiosk %s: invalid request: %s", kiosk_id, exc.reason)
            return protocol.Response(ok=False, error=exc.reason[:300])
        try:
            return self.answer(request)
        except Exception as exc:
            self.stats.errors += 1
            log.error("kiosk %s: %s failed: %s", kiosk_id, request.op, type(exc).__name__)
            return protocol.Response(ok=False, error="internal_error")

    def answer(self, request: Any) -> protocol.Response:
        """Dispatch a validated request to its answer."""
        handler = getattr(self, f"_answer_{request.op}")
        return handler(request)

    def _message(self, code: str | None) -> protocol.Bilingual | None:
        from hub import rules

        if not code:
            return None
        zh, en = rules.REASONS.get(code) or HUB_REASONS.get(code, (code, code))
        return protocol.Bilingual(zh=zh, en=en)

    def _refusal(self, decision: Any) -> dict[str, Any]:
        if decision.allowed:
            return {"allowed": True}
        return {
            "allowed": False,
            "reason_code": decision.reason_code,
            "message": _bilingual(decision) or self._message(decision.reason_code),
        }

    def _card_known(self, scheme_id: str, number: str) -> bool:
        from hub import schemes

        return scheme_id in self.registry.schemes and schemes.number_is_valid(scheme_id, number)

    def _unknown_card(self, scheme_id: str) -> protocol.Response:
        return protocol.Response(
            scheme=scheme_id,
            state="unknown",
            allowed=False,
            reason_code="card_unknown",
            message=self._message("card_unknown"),
        )

    def _answer_reader_lookup(self, req: protocol.ReaderLookup) -> protocol.Response:
        from hub import rules

        assert self.ledger is not None
        scheme_id, number = req.card.scheme, req.card.number
        reader = self.ledger.reader(scheme_id, number) if self._card_known(scheme_id, number) else None
        if reader is None:
            return self._unknown_card(scheme_id)
        scheme = self.registry.schemes[scheme_id]
        decision = rules.reader_status(self.registry, reader, req.library_id, self.today())
        loans = self.ledger.active_loans(rules.card_hash(scheme_id, number))
        state = _reader_state(reader, decision)
        return protocol.Response(
            scheme=scheme_id,
            state=state,
            masked_name=rules.mask_name(reader.name),
            pin_required=bool(scheme.pin_required),
            loans=[
                protocol.LoanLine(
                    item=loan.item,
                    title=loan.title,
                    due=loan.due,
                    renewals_left=max(0, scheme.max_renewals - loan.renewals),
                )
                for loan in loans
            ],
            items_left=max(0, scheme.max_items - len(loans)),
            home_library=reader.home_library if reader.home_library in self.registry.members else None,
            **self._refusal(decision),
        )

    def _answer_pin_check(self, req: protocol.PinCheck) -> protocol.Response:
        assert self.ledger is not None
        scheme_id, number = req.card.scheme, req.card.number
        if not self._card_known(scheme_id, number):
            return self._unknown_card(scheme_id)
        result = self.ledger.check_pin(
            scheme_id, number, req.pin, self.clock(), policy=self.registry.schemes[scheme_id]
        )
        if not result.known:
            return self._unknown_card(scheme_id)
        reason = None if result.ok else ("pin_locked" if result.locked_until else "pin_wrong")
        return protocol.Response(
            scheme=scheme_id,
            pin_ok=result.ok,
            attempts_left=result.attempts_left,
            locked_until=result.locked_until,
            reason_code=reason,
            message=self._message(reason),
        )

    def _answer_checkout_auth(self, req: protocol.CheckoutAuth) -> protocol.Response:
        from hub import rules

        assert self.ledger is not None
        scheme_id, number = req.card.scheme, req.card.number
        known = self._card_known(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if known else None
        key = rules.card_hash(scheme_id, number)
        item = self.ledger.item(req.item)
        loans = self.ledger.active_loans(key) if reader is not None else []
        decision = rules.checkout_decision(
            self.registry, reader, item, req.library_id, len(loans), self.clock(), reader_hash=key
        )
        return protocol.Response(
            title=item.title if item is not None else None,
            home_library=item.home_library if item is not None else None,
            due=_as_datetime(decision.due) if decision.allowed else None,
            **self._refusal(decision),
        )

    def _answer_renew_auth(self, req: protocol.RenewAuth) -> protocol.Response:
        from hub import rules

        assert self.ledger is not None
        scheme_id, number = req.card.scheme, req.card.number
        key = rules.card_hash(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if self._card_known(scheme_id, number) else None
        item = self.ledger.item(req.item)
        loan = self.ledger.active_loan_for_item(req.item)
        if reader is None:
            return self._unknown_card(scheme_id)
        if item is None or loan is None or loan.card_hash != key:
            return protocol.Response(
                allowed=False,
                reason_code="not_on_loan",
                message=self._message("not_on_loan"),
                title=item.title if item is not None else None,
            )
        hold = self.ledger.waiting_hold(req.item)
        decision = rules.renew_decision(
            self.registry, reader, item, loan.due, loan.renewals, self.clock(),
            hold is not None and hold[0] != key,
        )
        return protocol.Response(
            title=item.title,
            home_library=item.home_library,
            due=_as_datetime(decision.due) if decision.allowed else None,
            **self._refusal(decision),
        )

    def _answer_return_route(self, req: protocol.ReturnRoute) -> protocol.Response:
        from hub import rules

        assert self.ledger is not None
        item = self.ledger.item(req.item)
        if item is None:
            # Returns are always taken: an unknown book stays here for staff to look at.
            return protocol.Response(
                allowed=True,
                route="shelve",
                route_library=req.library_id,
                route_library_name=self._library_name(req.library_id),
                reason_code="item_unknown",
                message=self._message("item_unknown"),
            )
        hold = self.ledger.waiting_hold(req.item)
        route = rules.route_return(self.registry, item, req.library_id, hold[1] if hold else None)
        return protocol.Response(
            allowed=True,
            title=item.title,
            home_library=item.home_library,
            route=route.route,
            route_library=route.library_id,
            route_library_name=self._library_name(route.library_id),
        )

    def _library_name(self, library_id: str | None) -> protocol.Bilingual | None:
        member = self.registry.members.get(library_id) if library_id else None
        return None if member is None else protocol.Bilingual(zh=member.name_zh, en=member.name_en)

    def _answer_blocklist(self, req: protocol.Blocklist) -> protocol.Response:
        assert self.ledger is not None
        return protocol.Response(
            blocked_hashes=self.ledger.blocklist_hashes(self.today()),
            offline_max_items=self.config.offline_max_items,
        )

    def _answer_ledger_query(self, req: protocol.LedgerQuery) -> protocol.Response:
        assert self.ledger is not None
        return protocol.Response(rows=self.ledger.ledger_counts(req.txn_ids))

    # ------------------------------------------------------------------ fleet

    def _handle_state(self, kiosk_id: str, raw: bytes) -> None:
        if not raw:  # a cleared retained state
            return
        try:
            state = protocol.parse(protocol.KioskState, raw)
        except protocol.ProtocolError as exc:
            self.stats.invalid += 1
            log.warning("kiosk %s: invalid state: %s", kiosk_id, exc.reason)
            return
        assert self.ledger is not None
        self.ledger.record_state(kiosk_id, state, self.clock())
        self.stats.fleet_updates += 1

    def _handle_telemetry(self, kiosk_id: str, raw: bytes) -> None:
        try:
            telemetry = protocol.parse(protocol.Telemetry, raw)
        except protocol.ProtocolError as exc:
            self.stats.invalid += 1
            log.warning("kiosk %s: invalid telemetry: %s", kiosk_id, exc.reason)
            return
        assert self.ledger is not None
        self.ledger.record_telemetry(kiosk_id, telemetry, self.clock())
        self.stats.fleet_updates += 1

    # ------------------------------------------------------------------ commands

    def send_command(self, kiosk_id: str, cmd: str | protocol.Command) -> protocol.Command:
        """Publish a command to a kiosk; its result arrives on `.../cmd/result` and
        `command_result(cmd_id)` waits for it."""
        if isinstance(cmd, str):
            cmd = protocol.Command(cmd=cmd, cmd_id=f"c{int(time.time() * 1000)}-{secrets.token_hex(3)}")
        if not _KIOSK_RE.match(kiosk_id):
            raise ValueError(f"not a kiosk id: {kiosk_id!r}")
        with self._commands_lock:
            self._commands[cmd.cmd_id] = _CommandWait()
        self._publish(protocol.topic(kiosk_id, "cmd"), cmd)
        return cmd

    def command_result(self, cmd_id: str, timeout: float = 10.0) -> protocol.CommandResult | None:
        with self._commands_lock:
            wait = self._commands.get(cmd_id)
        if wait is None or not wait.event.wait(timeout):
            return None
        with self._commands_lock:
            self._commands.pop(cmd_id, None)
        return wait.result

    def _handle_command_result(self, kiosk_id: str, raw: bytes) -> None:
        try:
            result = protocol.parse(protocol.CommandResult, raw)
        except protocol.ProtocolError as exc:
            log.warning("kiosk %s: invalid command result: %s", kiosk_id, exc.reason)
            return
        with self._commands_lock:
            wait = self._commands.get(result.cmd_id)
        if wait is None:
            return  # another worker's command
        wait.result = result
        wait.event.set()
        log.info("kiosk %s: command %s ok=%s", kiosk_id, result.cmd_id, result.ok)

    # ------------------------------------------------------------------ time

    def today(self) -> date:
        """The alliance's local date (expiry is a local-calendar matter)."""
        return self.clock().astimezone(self.local_tz).date()


def _as_datetime(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)


def _bilingual(decision: Any) -> protocol.Bilingual | None:
    zh, en = getattr(decision, "message_zh", None), getattr(decision, "message_en", None)
    if zh and en:
        return protocol.Bilingual(zh=zh, en=en)
    return None


def _reader_state(reader: Any, decision: Any) -> str:
    """The wire's reader state: the ledger's state, or "expired" when the rules found the
    card past its date."""
    code = (decision.reason_code or "") if not decision.allowed else ""
    if reader.state in ("blocked", "expired"):
        return reader.state
    if "expired" in code:
        return "expired"
    if "blocked" in code:
        return "blocked"
    return "valid"
