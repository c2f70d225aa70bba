"""The journal's outbox: publishes the rows the hub has not acked, and applies its acks.

The resend rule - the only one in the kiosk; this class owns it and runs it on one
clock, the monotonic `clock` it is given:
- A row the hub has not acked (pending or sent in the journal) is published when it is
  not in flight, oldest first (journal order), while fewer than `window` rows are in
  flight. Publishing puts it in flight.
- A row in flight whose ack has not come within `resend_after_s` of its last publish
  is no longer in flight, so it is published again.
- A (re)connect, a lost connection and a new process start with no row in flight.
- The hub's ack on `.../ack` (never a broker PUBACK) ends the row: the journal marks it
  acked (rejected and exception rows are kept for staff) and `TxnAcked` is posted.
  With a `verifier` (the hub's public key), only an ack the hub signed for this kiosk
  and this txn_id counts; any other is logged and changes nothing.
The journal keeps only durable facts (sent, attempts, acked); the in-flight set lives
here, in memory.

What a caller may rely on as well:
- `notify()` after a row was recorded gets it published now, not at the next tick.
- `JournalDepth` is posted every `depth_interval_s` while rows wait (and soon after
  acks, and once when the depth changes, e.g. to zero).
- A failing journal posts `JournalFailed` once per fault code; the outbox tries again
  every `JOURNAL_RETRY_S`, and the link keeps running.
- With `keep_acked_s` set, acked rows acked longer ago than that are pruned from the
  journal at start and then every `PRUNE_EVERY_S` (`Journal.prune_acked`).

Known limit: after a reconnect paho resends its own unacknowledged publishes (the
persistent session) before this rule resends from the oldest unacked row, so the hub
may see a few rows twice and, when the broker itself lost messages, slightly out of
order; the hub's unique `txn_id` makes repeats harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from contract import messages
from contract.messages import Ack
from contract.topics import topic
from firmware.core.events import JournalDepth, JournalFailed, TxnAcked
from firmware.hub_link.connection import Connection
from firmware.hub_link.trust import HubVerifier
from firmware.journal import Journal, JournalError

log = logging.getLogger(__name__)

# Short enough that a copy the broker dropped while the hub was reconnecting (no
# subscriber yet) costs seconds, not minutes; long enough that a busy hub is not
# flooded twice.
DEFAULT_RESEND_AFTER_S = 10.0
JOURNAL_RETRY_S = 5.0
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class Backlog:
    """What telemetry says of the outbox."""

    pending: int = 0
    oldest_pending_s: float | None = None
    draining: bool = False  # rows wait and some are in flight


class Outbox:
    """Publishes journal rows by the resend rule above; applies the hub's acks."""

    def __init__(
        self,
        journal: Journal,
        connection: Connection,
        kiosk_id: str,
        post: Callable[[object], None],
        wake: Callable[[], None],
        *,
        window: int = 100,
        resend_after_s: float = DEFAULT_RESEND_AFTER_S,
        depth_interval_s: float = 5.0,
        keep_acked_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        verifier: HubVerifier | None = None,
    ) -> None:
        self._journal = journal
        self._verifier = verifier
        self._connection = connection
        self._post = post
        self._wake = wake
        self._window = window
        self._resend_after_s = resend_after_s
        self._depth_interval_s = depth_interval_s
        self._keep_acked_s = keep_acked_s
        self._clock = clock
        self._txn_topic = topic(kiosk_id, "txn")
        self._lock = threading.Lock()
        self._in_flight: dict[str, float] = {}  # txn_id -> last publish, on `clock`
        self._acks: deque[Ack] = deque()  # from paho's thread, applied by `pump`
        self._fault: str | None = None
        self._retry_at = 0.0
        self._last_depth: int | None = None
        self._next_depth_at = 0.0
        self._next_prune_at = clock()  # the first pump, before the link is up
        connection.on_message(topic(kiosk_id, "ack"), self._on_ack)
        connection.when_up(self._forget_in_flight)
        connection.when_down(self._forget_in_flight)

    def notify(self) -> None:
        """A row was recorded: publish it now rather than at the next tick."""
        self._wake()

    def pump(self, now: float) -> float:
        """Apply acks, publish what the rule says, post the depth, prune; returns when
        the outbox next needs to run (on `clock`)."""
        if self._fault is not None and now < self._retry_at:
            return self._retry_at
        try:
            self._apply_acks()
            if self._connection.usable:
                self._publish_due(now)
            if now >= self._next_depth_at:
                self._post_depth(now)
            if self._keep_acked_s is not None and now >= self._next_prune_at:
                self._prune(now, self._keep_acked_s)
            self._fault = None
        except JournalError as exc:
            self._retry_at = now + JOURNAL_RETRY_S
            if self._fault != exc.code:
                self._fault = exc.code
                log.error("journal failed: %s", exc)
                self._post(JournalFailed(exc.code, exc.hint))
            return self._retry_at
        with self._lock:
            next_resend = min(self._in_flight.values(), default=None)
        due = [self._next_depth_at]
        if self._keep_acked_s is not None:
            due.append(self._next_prune_at)
        if next_resend is not None:
            due.append(next_resend + self._resend_after_s)
        return min(due)

    def backlog(self) -> Backlog:
        try:
            pending = self._journal.depth()
            oldest = self._journal.oldest_pending_age_s()
        except JournalError:
            return Backlog()
        with self._lock:
            draining = pending > 0 and bool(self._in_flight)
        return Backlog(pending, oldest, draining)

    # ---- helpers ----

    def _on_ack(self, msg: mqtt.MQTTMessage) -> None:
        ack = messages.parse(Ack, msg.payload)  # ProtocolError: logged, dropped
        if self._verifier is None or self._verifier.accepts(msg, "ack", ack.txn_id):
            self._acks.append(ack)
        self._wake()

    def _forget_in_flight(self) -> None:
        with self._lock:
            self._in_flight.clear()
        self._wake()

    def _apply_acks(self) -> None:
        acks: list[Ack] = []
        while self._acks:
            acks.append(self._acks.popleft())
        if not acks:
            return
        try:
            changed = self._journal.mark_acked_many(acks)
        except JournalError:
            self._acks.extendleft(reversed(acks))  # keep them for the retry
            raise
        with self._lock:
            for ack in acks:
                self._in_flight.pop(ack.txn_id, None)
        for ack in changed:
            self._post(TxnAcked(ack.txn_id, ack))
        self._next_depth_at = min(self._next_depth_at, self._clock() + 0.5)

    def _publish_due(self, now: float) -> None:
        with self._lock:
            for txn_id, at in list(self._in_flight.items()):
                if now - at >= self._resend_after_s:
                    del self._in_flight[txn_id]  # no ack in time: it is due again
        while self._connection.usable:
            with self._lock:
                room = self._window - len(self._in_flight)
                busy = set(self._in_flight)
            if room <= 0:
                return
            rows = [
                (t, p) for t, p in self._journal.unacked_raw(room + len(busy)) if t not in busy
            ][:room]
            if not rows:
                return
            published: list[str] = []
            for txn_id, payload in rows:
                info = self._connection.publish(self._txn_topic, payload, qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                published.append(txn_id)
            with self._lock:
                at = self._clock()
                for txn_id in published:
                    self._in_flight[txn_id] = at
            self._journal.mark_sent(published)
            if len(published) < len(rows):
                return

    def _post_depth(self, now: float) -> None:
        self._next_depth_at = now + self._depth_interval_s
        depth = self._journal.depth()
        if depth or depth != self._last_depth:
            self._last_depth = depth
            self._post(JournalDepth(depth, self._journal.oldest_pending_age_s()))

    def _prune(self, now: float, keep_acked_s: float) -> None:
        self._next_prune_at = now + PRUNE_EVERY_S
        pruned = self._journal.prune_acked(keep_acked_s)
        if pruned:
            log.info("pruned %d acked journal rows older than %.0f s", pruned, keep_acked_s)
