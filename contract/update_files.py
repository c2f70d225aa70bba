"""The files the kiosk and the root updater (updater/) pass each other in the kiosk's
state directory (/var/lib/alliance-kiosk), besides the health file (contract.health_file):

- `update-order.json`, left by the kiosk for a hub-ordered update (firmware.update_order)
  and taken by the updater (updater.order). Its `command` is the hub's `cmd` message
  exactly as it arrived (`SignedCommand`): the updater acts only on what that signature
  covers, never on the order's plain fields;
- `last-update.json`, written by the updater (updater.results), read by the kiosk for
  its telemetry (shape: contract.messages.UpdateReport).

What a caller may rely on: `SignedCommand.from_json(x.as_json())` is `x`; `from_json`
raises ValueError for anything `as_json` would not have written.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

ORDER_FILE = "update-order.json"
LAST_UPDATE_FILE = "last-update.json"


@dataclass(frozen=True)
class SignedCommand:
    """A `cmd` message exactly as it arrived: its payload and MQTT 5 user properties."""

    payload: bytes
    user_properties: tuple[tuple[str, str], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
            "user_properties": [list(pair) for pair in self.user_properties],
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedCommand:
        """ValueError when `data` is not what `as_json` wrote."""
        if not isinstance(data, dict):
            raise ValueError("no signed command in the order")
        pairs = data.get("user_properties")
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
        ):
            raise ValueError("the order's user properties are malformed")
        try:
            payload = base64.b64decode(str(data.get("payload_b64", "")), validate=True)
        except binascii.Error as exc:  # a ValueError already; named for the reader
            raise ValueError(f"the order's payload is not base64: {exc}") from None
        return cls(payload, tuple((a, b) for a, b in pairs))
