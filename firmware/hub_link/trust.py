"""Whether a message on the kiosk's `ack`, `resp` or `cmd` topic is the hub's: the one
check between what the broker delivers and what the kiosk acts on.

With the hub's public key (`[hub] hub_public_key`), a message is acted on only when it
carries the hub's Ed25519 signature (contract.signing) for this kiosk, this leaf and
this message id (the ack's txn_id, the answer's correlation data, the command's
cmd_id) and has not expired by the kiosk's wall clock. A command is also refused when
it comes as a retained message (the hub never retains one: a retained command is
somebody else's, replayed at every subscribe) or when its cmd_id was already obeyed
while its signature is still valid (a replay). Without the key every message is
accepted, as before signing existed; the link says so once, at start.

What a caller may rely on: `accepts` never raises for anything a message holds; every
refusal is one warning line naming the leaf and the reason (`unsigned`, `malformed`,
`bad-signature`, `expired`, `retained`, `replayed`), never the payload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from contract import signing

log = logging.getLogger(__name__)


class HubVerifier:
    """Checks the hub's signature on what arrives for one kiosk (see the module doc)."""

    def __init__(
        self,
        kiosk_id: str,
        public_key: signing.Ed25519PublicKey | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kiosk_id = kiosk_id
        self._key = public_key
        self._clock = clock
        self._lock = threading.Lock()
        self._obeyed: dict[str, int] = {}  # cmd_id -> the expiry of its signature

    @property
    def verifying(self) -> bool:
        return self._key is not None

    def accepts(self, msg: mqtt.MQTTMessage, leaf: str, message_id: str | bytes) -> bool:
        """True when the kiosk may act on `msg`, delivered on its `leaf` topic."""
        if self._key is None:
            return True
        if leaf == "cmd" and msg.retain:
            return self._refuse(leaf, "retained")
        props = getattr(msg, "properties", None)
        pairs = getattr(props, "UserProperty", None) if props is not None else None
        now = self._clock()
        verdict = signing.verify(
            self._key, self._kiosk_id, leaf, message_id, msg.payload, pairs, now=now
        )
        if not verdict:
            return self._refuse(leaf, verdict.reason)
        if leaf == "cmd":
            signature = signing.from_user_properties(pairs)  # it verified: a Signature
            exp = signature.exp if isinstance(signature, signing.Signature) else int(now)
            if not self._first_time(str(message_id), exp, now):
                return self._refuse(leaf, "replayed")
        return True

    def _first_time(self, cmd_id: str, exp: int, now: float) -> bool:
        """Remember `cmd_id` until `exp`; False if it was already obeyed."""
        with self._lock:
            for done in [c for c, e in self._obeyed.items() if e < now]:
                del self._obeyed[done]  # expired: its replay no longer verifies anyway
            if cmd_id in self._obeyed:
                return False
            self._obeyed[cmd_id] = exp
            return True

    @staticmethod
    def _refuse(leaf: str, reason: str) -> bool:
        log.warning("ignored a %s not signed by the hub for this kiosk: %s", leaf, reason)
        return False
