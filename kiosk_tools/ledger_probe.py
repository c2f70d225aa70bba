"""`expect committed`: the scenario asks the hub, over MQTT like any kiosk, how many
ledger rows hold a transaction."""

from __future__ import annotations

import queue
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.broker_url import parse_broker_url


def probe_id(kiosk_id: str) -> str:
    """The kiosk id the probe of kiosk `kiosk_id` asks under (enrolled like a kiosk)."""
    return f"{kiosk_id[:58]}-probe"


class LedgerProbe:
    """Asks the hub (over MQTT, like any kiosk) how many ledger rows hold txn ids."""

    def __init__(self, broker_url: str, kiosk_id: str, identity: Path | None = None) -> None:
        """`identity`: the probe's own enrolment bundle (kiosk id `{kiosk_id}-probe`), for
        a TLS broker, which names a client by its certificate: with the kiosk's own the
        probe would take the kiosk's connection over."""
        address = parse_broker_url(broker_url)
        self._name = probe_id(kiosk_id)
        self._answers: queue.Queue[bytes] = queue.Queue()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._name, protocol=mqtt.MQTTv5)
        self._client.on_message = lambda _c, _u, msg: self._answers.put(msg.payload)
        if address.tls:
            if identity is None:
                raise ValueError(
                    f"`expect committed` on a TLS broker asks the hub as kiosk {self._name}, "
                    f"which has no enrolment bundle here: enrol it beside the kiosk's "
                    f"(python -m hub enroll {self._name} --library LIB --out DIR/../{self._name})"
                )
            self._client.tls_set(
                ca_certs=str(identity / "ca.crt"),
                certfile=str(identity / "kiosk.crt"),
                keyfile=str(identity / "kiosk.key"),
            )
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        self._resp = topics.topic(self._name, "resp")
        self._client.subscribe(self._resp, qos=1)
        time.sleep(0.2)

    def rows(self, txn_ids: list[str], timeout_s: float = 5.0) -> dict[str, int]:
        """txn_id -> ledger rows holding it; TimeoutError when no hub answers in time."""
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._resp
        props.CorrelationData = uuid.uuid4().hex.encode()
        request = messages.LedgerQuery(op="ledger_query", txn_ids=txn_ids)
        self._client.publish(
            topics.topic(self._name, "req"), messages.encode(request), qos=1, properties=props
        )
        try:
            raw = self._answers.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no answer to the ledger query within {timeout_s:g} s") from None
        response = messages.parse(messages.Response, raw)
        return dict(response.rows or {})

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
