"""The hub's signature on what it sends a kiosk (`ack`, `resp`, `cmd`): the envelope of
`contract.signing` as MQTT 5 user properties on each PUBLISH.

What a caller may rely on:
- `HubSigner.from_config(config)` is None when `[hub] signing_key` is unset (messages go
  out unsigned, as before), and raises `KeyFileError` naming the file when the key
  cannot be used (missing, readable by others, not Ed25519).
- `properties_for(topic, message, payload, properties)` returns PUBLISH properties with
  `sig` and `exp` added to those given (ResponseTopic, CorrelationData kept). The
  signature binds the kiosk id and leaf read from `topic`, the message id (the ack's
  `txn_id`, the command's `cmd_id`, otherwise the CorrelationData) and an expiry of
  now plus the leaf's time to live from the config.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, signing, topics
from hub.config import HubConfig


def _kiosk_and_leaf(topic_name: str) -> tuple[str, str]:
    """The kiosk id and leaf of a kiosk topic; ("", topic) for any other topic, which no
    kiosk will accept as its own."""
    kiosk_id = topics.kiosk_id_from_topic(topic_name)
    if kiosk_id is None:
        return "", topic_name
    return kiosk_id, topic_name[len(topics.topic(kiosk_id, "")) :]


class HubSigner:
    """Signs the hub's messages with its Ed25519 key (contract.signing)."""

    def __init__(
        self,
        key: signing.Ed25519PrivateKey,
        ttl_s: dict[str, int],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._key = key
        self._ttl_s = ttl_s
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_config(
        cls, config: HubConfig, clock: Callable[[], datetime] | None = None
    ) -> HubSigner | None:
        if config.signing_key is None:
            return None
        ttl_s = {
            "ack": config.signed_ack_ttl_s,
            "resp": config.signed_resp_ttl_s,
            "cmd": config.signed_cmd_ttl_s,
        }
        return cls(signing.load_private_key(config.signing_key), ttl_s, clock)

    def properties_for(
        self,
        topic_name: str,
        message: messages._Msg,
        payload: bytes,
        properties: Properties | None = None,
    ) -> Properties:
        kiosk_id, leaf = _kiosk_and_leaf(topic_name)
        if isinstance(message, messages.Ack):
            message_id: str | bytes = message.txn_id
        elif isinstance(message, messages.Command):
            message_id = message.cmd_id
        else:
            message_id = bytes(getattr(properties, "CorrelationData", b"") or b"")
        ttl = self._ttl_s.get(leaf, self._ttl_s["resp"])
        exp = int(self._clock().timestamp()) + ttl
        signature = signing.sign(self._key, kiosk_id, leaf, message_id, payload, exp=exp)
        out = properties if properties is not None else Properties(PacketTypes.PUBLISH)
        for pair in signature.user_properties():
            out.UserProperty = pair  # paho appends each pair
        return out
