"""The kiosk's link to the alliance hub over MQTT 5 (docs/mqtt-contract.md).

`HubLink` puts together one connection and the three parts that share it, and runs the
one pump thread that gives the parts their turns:
- `connection.Connection`: the paho client, its persistent session and subscriptions;
- `requests.Requests`: request/response, the only owner of request timeouts;
- `outbox.Outbox`: the journal's rows to the hub, by the one resend rule;
- `fleet.Fleet`: retained state, telemetry, commands, the blocklist fetch.

What a caller may rely on:
- `request()` always ends in exactly one event for its correlation id: `HubAnswered`, or
  `HubTimedOut` after `request_timeout_s` (at once when the link is down, and when the
  link drops while waiting). A late answer is dropped. The core does not time requests
  out itself: it waits for one of these two.
- A route that dies silently is known down within about 2 x `keepalive_s` + 1 s
  (`firmware.hub_link.connection`); the same link reconnects by itself within about a
  second of the route coming back. No thread of the link but paho's waits on the
  network, so the pump beats through any outage.
- The outbox publishes journal rows in journal order, QoS 1, up to `window` rows waiting
  for the hub's ack at a time; a row is done only on the hub's ack on `.../ack` (never on
  a broker PUBACK): then the journal is updated and `TxnAcked` posted. The resend rule
  is written down in `firmware.hub_link.outbox`. With `keep_acked_s` acked rows older
  than that are pruned from the journal.
- `LinkChanged(True)` is posted once the broker has confirmed the kiosk's subscriptions
  (ack, resp, cmd), so nothing the hub sends from then on is missed.
- With `hub_public_key`, nothing on `ack`, `resp` or `cmd` is acted on unless the hub
  signed it for this kiosk, leaf and id, and it has not expired; a retained or replayed
  command is ignored (`firmware.hub_link.trust`). Without it, one warning at `start`.
- `post` is called from the link's own threads (paho's network thread and the pump);
  it must be thread-safe (e.g. `queue.Queue.put`).
- On the wire: client id `kiosk-{kiosk_id}`, `clean_start=False` with a session expiry,
  topics `alliance/v1/kiosk/{kiosk_id}/...` (contract.topics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel

from contract.broker_url import parse_broker_url
from contract.messages import CommandResult, Telemetry
from contract.signing import Ed25519PublicKey
from contract.topics import topic
from firmware.hub_link.connection import KEEPALIVE_S, Connection, TlsFiles
from firmware.hub_link.fleet import Fleet, state_message
from firmware.hub_link.outbox import DEFAULT_RESEND_AFTER_S, Outbox
from firmware.hub_link.requests import Requests
from firmware.hub_link.trust import HubVerifier
from firmware.journal import Journal

log = logging.getLogger(__name__)

MAX_WAIT_S = 1.0  # the pump looks round at least this often
_AFTER_FAILURE_S = 0.5


class _Part(Protocol):
    def pump(self, now: float) -> float | None: ...


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
        keep_acked_s: float | None = None,
        fetch_blocklist: bool = True,
        keepalive_s: int = KEEPALIVE_S,
        hub_public_key: Ed25519PublicKey | None = None,
        pins_over_plain: bool = False,
    ) -> None:
        self.kiosk_id = kiosk_id
        self._verifier = HubVerifier(kiosk_id, hub_public_key)
        self.library_id = library_id
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._started = False
        self._stopped = False
        self._pump: threading.Thread | None = None
        self.beat = lambda: None  # the watchdog's heartbeat (firmware.heartbeats); set before start()
        self._connection = Connection(
            parse_broker_url(broker_url),
            f"kiosk-{kiosk_id}",
            post,
            will=(topic(kiosk_id, "state"), state_message("offline", firmware_version, library_id)),
            subscriptions=[topic(kiosk_id, leaf) for leaf in ("ack", "resp", "cmd")],
            username=username,
            password=password,
            tls=tls,
            keepalive_s=keepalive_s,
            max_inflight=max(20, window),
        )
        self._requests = Requests(
            self._connection,
            kiosk_id,
            post,
            self._wake.set,
            timeout_s=request_timeout_s,
            verifier=self._verifier,
            pins_over_plain=pins_over_plain,
        )
        self._outbox = (
            Outbox(
                journal,
                self._connection,
                kiosk_id,
                post,
                self._wake.set,
                window=window,
                resend_after_s=resend_after_s,
                depth_interval_s=depth_interval_s,
                keep_acked_s=keep_acked_s,
                verifier=self._verifier,
            )
            if journal is not None
            else None
        )
        self._fleet = Fleet(
            self._connection,
            self._requests,
            kiosk_id,
            library_id,
            post,
            self._wake.set,
            firmware_version=firmware_version,
            telemetry_interval_s=telemetry_interval_s,
            telemetry=telemetry,
            backlog=self._outbox.backlog if self._outbox is not None else None,
            fetch_blocklist=fetch_blocklist,
            verifier=self._verifier,
        )
        parts: list[_Part] = [self._requests, self._fleet]
        if self._outbox is not None:
            parts.insert(1, self._outbox)
        self._parts = parts

    @property
    def connected(self) -> bool:
        return self._connection.connected

    @property
    def verifies_hub_messages(self) -> bool:
        """True when it holds the hub's public key and acts only on signed messages."""
        return self._verifier.verifying

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start the
        pump; events report what happens. Calling it twice is harmless."""
        if self._started:
            return
        self._started = True
        if not self._connection.address.tls:
            log.warning(
                "the hub link is plain %s (a lab setup): card numbers and PINs cross the "
                "network readable; a deployed kiosk uses mqtts:// with its enrolment",
                self._connection.address.url,
            )
        if not self._verifier.verifying:
            log.warning(
                "hub messages are not verified: no [hub] hub_public_key, so anyone who can "
                "publish on this kiosk's ack, resp and cmd topics is believed"
            )
        self._fleet.start(time.monotonic())
        self._connection.start()
        self._pump = threading.Thread(target=self._pump_loop, name="hub-link-pump", daemon=True)
        self._pump.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Say "offline" (retained), disconnect and stop the threads; idempotent. Pending
        requests end in HubTimedOut; the journal keeps every unacked row."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        self._connection.begin_close()
        self._stopping.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout)
        self._fleet.say_offline(timeout)
        self._connection.stop()

    def __enter__(self) -> HubLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the shell calls ----

    def request(self, corr_id: str, request_model: BaseModel) -> None:
        """Send a request on `.../req`; the answer (or the timeout) arrives as an event."""
        self._requests.request(corr_id, request_model)

    def notify_new_txn(self) -> None:
        """A row was recorded: publish it now rather than at the next pump tick."""
        if self._outbox is not None:
            self._outbox.notify()

    def publish_state(self, state: Literal["online", "maintenance"]) -> None:
        """Set the retained state (kept and re-sent on every reconnect)."""
        self._fleet.publish_state(state)

    def publish_command_result(self, result: CommandResult) -> None:
        self._fleet.publish_command_result(result)

    # ---- the pump thread: each part in turn, then wait for the earliest due ----

    def _pump_loop(self) -> None:
        while not self._stopping.is_set():
            self.beat()
            next_at = time.monotonic() + MAX_WAIT_S
            for part in self._parts:
                try:
                    due = part.pump(time.monotonic())
                except Exception:  # keep pumping: the next turn may succeed
                    log.exception("hub link %s failed", type(part).__name__)
                    due = time.monotonic() + _AFTER_FAILURE_S
                if due is not None:
                    next_at = min(next_at, due)
            self._wake.wait(max(0.0, next_at - time.monotonic()))
            self._wake.clear()
