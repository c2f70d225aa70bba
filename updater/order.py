"""An update the hub ordered: the order file the kiosk left (firmware.update_order),
and the check that it is a command the hub signed for this kiosk.

The order file is written by the unprivileged kiosk and this runs as root, so nothing
in it is believed but the hub's signed command it carries (contract.update_files), and
that is checked with the hub's key and the kiosk id from the root-owned trust directory
(updater.trust), never from the kiosk's config.

What a caller may rely on: `take_order` reads and removes the order (so a path unit does
not start the updater twice), following no link and reading nothing but a small plain
file; `verified_order` returns bundle URL, sha256 and command id only from a signed,
unexpired `update` command for this kiosk, else raises OrderRefused with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from contract import messages, signing
from contract.update_files import SignedCommand
from updater.kiosk_files import read_plain_file
from updater.trust import Trust

MAX_ORDER_BYTES = 1 << 20


class OrderRefused(ValueError):
    """The kiosk's order is not an update the hub signed for this kiosk."""


def take_order(path: Path) -> dict[str, Any] | None:
    """The kiosk's order, removed from its directory; None if there is none, or it is
    not a small plain file of JSON naming a bundle URL."""
    taken = path.with_name(path.name + ".taken")
    try:
        os.replace(path, taken)
    except FileNotFoundError:
        return None
    try:
        order = json.loads(read_plain_file(taken, MAX_ORDER_BYTES))
    except (OSError, ValueError):
        order = None
    taken.unlink(missing_ok=True)
    if not isinstance(order, dict) or not isinstance(order.get("bundle_url"), str):
        return None
    return order


def verified_order(order: dict[str, Any], trust: Trust, now: float) -> tuple[str, str, str]:
    """Bundle URL, sha256 and command id from the command the hub signed, never from the
    order's plain fields (see the module doc)."""
    try:
        signed = SignedCommand.from_json(order.get("command"))
        command = messages.parse(messages.Command, signed.payload)
    except ValueError as exc:
        raise OrderRefused(f"the order is not a signed command: {exc}") from None
    verdict = signing.verify(
        trust.hub_key, trust.kiosk_id, "cmd", command.cmd_id, signed.payload,
        signed.user_properties, now=now,
    )  # fmt: skip
    if not verdict:
        raise OrderRefused(
            f"the order is not signed by the hub for kiosk {trust.kiosk_id}: {verdict.reason}"
        )
    if command.cmd != "update" or not command.bundle_url or not command.sha256:
        raise OrderRefused(f"the signed command is {command.cmd!r}, not an update")
    return command.bundle_url, command.sha256, command.cmd_id
