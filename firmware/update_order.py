"""The kiosk's side of a hub-ordered update: hand the order to an updater that outlives
the kiosk, and read back what the last update did.

The kiosk itself cannot install anything: under systemd it runs as `alliance-kiosk`
with a read-only /opt, and `systemctl restart` of its own unit would kill an updater it
started as a child. So it writes the order, `update-order.json` in its state directory,
and:
- under systemd (`INVOCATION_ID` set), `alliance-kiosk-update.path` sees the file and
  starts `alliance-kiosk-update.service` (root, its own cgroup), which runs
  `python -m updater --order FILE` from the last healthy release;
- elsewhere (a developer's machine, tests) it starts that same command itself, in a new
  session so it survives the kiosk, with `--root $ALLIANCE_KIOSK_ROOT` when that staging
  root is set; its output goes to `update.log` in the state directory.

The updater takes the file away before it starts (updater.order.take_order) and
writes its result to `last-update.json`, which the kiosk sends in its telemetry. Both
files, and the signed command the order carries, are defined in contract.update_files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.atomic_files import write_atomic
from contract.messages import UpdateReport
from contract.update_files import LAST_UPDATE_FILE, ORDER_FILE, SignedCommand

__all__ = ["ORDER_FILE", "ROOT_ENV", "SignedCommand", "last_update", "order_update"]

ROOT_ENV = "ALLIANCE_KIOSK_ROOT"


def order_update(
    state_dir: Path,
    bundle_url: str,
    sha256: str,
    cmd_id: str,
    *,
    signed: SignedCommand | None = None,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Leave the order and get an updater going; the `CommandResult.detail` to answer.

    `signed` is the command as the hub signed it: the root updater acts only on that,
    checked with the hub's key and kiosk id from the root-owned trust directory
    (updater.trust, updater.order.verified_order), so a kiosk process that
    writes an order of its own, or rewrites the kiosk's config, installs nothing."""
    env = os.environ if env is None else env
    order = state_dir / ORDER_FILE
    write_atomic(order, json.dumps({
        "bundle_url": bundle_url, "sha256": sha256, "cmd_id": cmd_id,
        "ordered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": signed.as_json() if signed is not None else None,
    }) + "\n")  # fmt: skip
    if env.get("INVOCATION_ID") and not env.get(ROOT_ENV):
        return {"update": "ordered", "by": "alliance-kiosk-update.path"}
    command = [python, "-P", "-m", "updater", "--order", str(order)]
    if env.get(ROOT_ENV):
        command += ["--root", env[ROOT_ENV]]
    with (state_dir / "update.log").open("ab") as log_file:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True, close_fds=True, env=dict(env),
        )  # fmt: skip
    return {"update": "started", "pid": child.pid}


def last_update(state_dir: Path | None) -> UpdateReport | None:
    """What `last-update.json` says, bounded for telemetry; None if there is none."""
    if state_dir is None:
        return None
    try:
        data = json.loads((state_dir / LAST_UPDATE_FILE).read_text())
        if isinstance(data.get("reason"), str):
            data["reason"] = data["reason"][:300]
        return UpdateReport.model_validate(data)
    except (OSError, ValueError, AttributeError):
        return None
