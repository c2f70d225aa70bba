"""Requests to the hub and their answers (MQTT 5 request/response), with their timeouts.

This is the only place in the kiosk that times a request out: the core sends a request
and waits for one of the two events below, whatever time passes.

What a caller may rely on:
- `request(corr_id, model)` ends in exactly one event for `corr_id`: `HubAnswered` with
  the hub's Response, or `HubTimedOut` - `timeout_s` after the publish; at once when the
  connection is not usable or paho refuses the publish; and when the connection drops
  (or the link stops) while the answer is awaited.
- A late answer (its request already timed out), an answer for an unknown correlation
  id and an answer without correlation data are dropped (and logged).
- `ask(name, model, on_answer)` is for the link's own requests (the blocklist): no
  event is posted for them; `on_answer` gets the Response on paho's thread, and a
  timeout or a lost connection ends them silently.
- Wire: the request goes to `.../req`, QoS 1, with ResponseTopic `.../resp` and
  CorrelationData `{corr_id}.{random}` in UTF-8 (the link's own ids are `_{name}-{ns}`):
  the random part (96 bits, new for every request) is what an answer must name, so
  nobody can publish a forged answer ahead of the request (the core's ids are `r1`,
  `r2`, ...). The hub answers on `.../resp` with the same CorrelationData. With a
  `verifier`, an answer is also dropped unless the hub signed it for that
  CorrelationData (firmware.hub_link.trust).
- Timeouts are measured on `clock` (monotonic); `pump(now)` ends the overdue requests
  and says when it next needs to run.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from contract import messages
from contract.messages import PinCheck, Response
from contract.topics import topic
from firmware.core.events import HubAnswered, HubTimedOut
from firmware.hub_link.connection import Connection
from firmware.hub_link.trust import HubVerifier

log = logging.getLogger(__name__)

OnAnswer = Callable[[Response], None]


@dataclass(frozen=True)
class _Awaited:
    corr_id: str  # the caller's id; the dict key is the one on the wire
    deadline: float  # on the monotonic clock
    on_answer: OnAnswer | None  # None: the caller's request, answered by an event


class Requests:
    """Publishes requests, matches answers by correlation id, times out the rest."""

    def __init__(
        self,
        connection: Connection,
        kiosk_id: str,
        post: Callable[[object], None],
        wake: Callable[[], None],
        *,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        verifier: HubVerifier | None = None,
        pins_over_plain: bool = False,
    ) -> None:
        self._connection = connection
        # PINs travel only over TLS (issue 10 item 5): on a plain link a PIN check is
        # answered here, "try again", unless a lab setting allows it.
        self._pins_over_plain = pins_over_plain
        self._verifier = verifier
        self._post = post
        self._wake = wake
        self._timeout_s = timeout_s
        self._clock = clock
        self._req_topic = topic(kiosk_id, "req")
        self._resp_topic = topic(kiosk_id, "resp")
        self._lock = threading.Lock()
        self._awaited: dict[str, _Awaited] = {}
        connection.on_message(self._resp_topic, self._on_response)
        connection.when_down(self.fail_all)

    def request(self, corr_id: str, request_model: BaseModel) -> None:
        """Send the core's request; its answer or its timeout arrives as an event."""
        self._send(corr_id, request_model, None)

    def ask(self, name: str, request_model: BaseModel, on_answer: OnAnswer) -> None:
        """Send the link's own request; `on_answer` gets the answer, if one comes in time."""
        self._send(f"_{name}-{time.monotonic_ns()}", request_model, on_answer)

    def pump(self, now: float) -> float | None:
        """End the requests overdue at `now`; returns the next deadline (None: none)."""
        with self._lock:
            overdue = [w for w, a in self._awaited.items() if a.deadline <= now]
        for wire_id in overdue:
            self._time_out(wire_id)
        with self._lock:
            return min((a.deadline for a in self._awaited.values()), default=None)

    def fail_all(self) -> None:
        """The answers cannot come (the connection dropped, the link stops)."""
        with self._lock:
            wire_ids = list(self._awaited)
        for wire_id in wire_ids:
            self._time_out(wire_id)

    # ---- helpers ----

    def _send(self, corr_id: str, request_model: BaseModel, on_answer: OnAnswer | None) -> None:
        if self._pin_kept_off_a_plain_link(corr_id, request_model):
            return
        if not self._connection.usable:
            if on_answer is None:
                self._post(HubTimedOut(corr_id))
            return
        wire_id = f"{corr_id}.{secrets.token_urlsafe(12)}"
        with self._lock:  # before the publish: the answer may come before publish returns
            self._awaited[wire_id] = _Awaited(corr_id, self._clock() + self._timeout_s, on_answer)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._resp_topic
        props.CorrelationData = wire_id.encode("utf-8")
        try:
            info = self._connection.publish(
                self._req_topic, messages.encode(request_model), qos=1, properties=props
            )
            published = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        except Exception:  # whatever went wrong, the request still ends in one event
            log.exception("could not publish request %s", corr_id)
            published = False
        if not published:
            self._time_out(wire_id)
        self._wake()  # the pump's next deadline may now be this one

    def _pin_kept_off_a_plain_link(self, corr_id: str, request_model: BaseModel) -> bool:
        if not isinstance(request_model, PinCheck) or self._pins_over_plain:
            return False
        if self._connection.address.tls:
            return False
        log.error(
            "PIN not sent: the link to the hub is plain %s and PINs travel only over TLS "
            "(mqtts:// with the kiosk's enrolment; a lab may set [hub] pins_over_plain = true)",
            self._connection.address.url,
        )
        self._post(HubAnswered(corr_id, Response(ok=False, error="pin_needs_tls")))
        return True

    def _take(self, wire_id: str) -> _Awaited | None:
        with self._lock:
            return self._awaited.pop(wire_id, None)

    def _time_out(self, wire_id: str) -> None:
        awaited = self._take(wire_id)
        if awaited is None:
            return  # answered (or timed out) meanwhile: it ended once already
        if awaited.on_answer is None:
            self._post(HubTimedOut(awaited.corr_id))
        else:
            log.debug("the link's own request %s got no answer", awaited.corr_id)

    def _on_response(self, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        if not corr:
            log.warning("ignored a response without correlation data")
            return
        if self._verifier is not None and not self._verifier.accepts(msg, "resp", bytes(corr)):
            return
        wire_id = bytes(corr).decode("utf-8", errors="replace")
        response = messages.parse(Response, msg.payload)  # ProtocolError: logged, dropped
        awaited = self._take(wire_id)
        if awaited is None:
            log.debug("dropped a late or unknown answer %s", wire_id[:80])
        elif awaited.on_answer is None:
            self._post(HubAnswered(awaited.corr_id, response))
        else:
            awaited.on_answer(response)
