"""MQTT topic names of the kiosk <-> hub contract (docs/mqtt-contract.md).

No card number or name ever appears in a topic: only the kiosk id.
"""

from __future__ import annotations

PREFIX = "alliance/v1"
KIOSK_TO_HUB = ("state", "txn", "req", "telemetry", "cmd/result")
HUB_TO_KIOSK = ("ack", "resp", "cmd")


def topic(kiosk_id: str, leaf: str) -> str:
    """`alliance/v1/kiosk/{kiosk_id}/{leaf}`; leaf is state, txn, ack, req, resp, telemetry,
    cmd or cmd/result."""
    return f"{PREFIX}/kiosk/{kiosk_id}/{leaf}"


def kiosk_id_from_topic(name: str) -> str | None:
    """The kiosk id inside a kiosk topic, or None for any other topic."""
    head = f"{PREFIX}/kiosk/"
    if not name.startswith(head):
        return None
    kiosk_id = name[len(head) :].split("/", 1)[0]
    return kiosk_id or None
