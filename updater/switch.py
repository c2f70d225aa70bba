"""An update's steps, each of which stops the update before the next:

1. the bundle (a file, or fetched from an http(s)/file URL) must have the sha256 the
   operator (or the hub's signed command) gave, then pass its manifest check
   (updater.bundle), all before anything is written to the slot;
2. the slot `releases/<version>` is refused if it is the running one; any other slot of
   that version (a half-installed one from an earlier attempt) is removed first;
3. the slot gets its own venv, installed from the bundle alone (updater.install);
4. `current` is switched atomically and the service restarted (`systemctl restart
   alliance-kiosk.service`; under a staging root the command is printed, not run);
5. the new release must report, within the deadline, its version with `ready`,
   `link_online` and `selftest_ok` (updater.verdict); then, and only then,
   `last-healthy` is pointed at it. Otherwise `current` goes back to the last healthy
   slot (or, in a layout without the marker, the previous one), the service is
   restarted again, and the result says `rolled_back` with the reason.

What a caller may rely on: `current` is only ever a complete slot (the old one, or the
new one after its venv installed), and `last-healthy` only ever one that was judged
healthy (or the one scripts/install-pi.sh installed); every run ends in one result
written to `last-update.json` (updater.results), except a run refused because another
updater holds the lock (the other's result stands); after a success the slots other
than the current, the previous and the last healthy one are removed. If the updater
dies between the switch and the verdict, the boot check (updater.recover) undoes it.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contract.atomic_files import write_atomic
from updater import layout as slots
from updater.bundle import SHA256_RE, fetch, file_sha256, verified_manifest
from updater.install import install_slot
from updater.layout import LAST_HEALTHY, Layout
from updater.lock import exclusive
from updater.results import Progress, UpdateRefused, UpdateResult, record_result
from updater.verdict import HealthProbe, health_file_probe, verdict, wait_healthy

log = logging.getLogger(__name__)

SERVICE = "alliance-kiosk.service"
DEFAULT_DEADLINE_S = 180.0


def systemctl_restart(layout: Layout, say: Progress) -> Callable[[], None]:
    """Restart the kiosk's unit; under a staging root only say what would run."""
    command = ["systemctl", "restart", SERVICE]

    def restart() -> None:
        if layout.root != Path("/"):
            say(f"(staging) would run: {shlex.join(command)}")
            return
        subprocess.run(command, check=True, timeout=120)

    return restart


def update(
    bundle: str,
    sha256: str,
    *,
    layout: Layout | None = None,
    probe: HealthProbe | None = None,
    restart: Callable[[], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    poll_s: float = 1.0,
    python: str | None = None,
    cmd_id: str | None = None,
    progress: Progress | None = None,
) -> UpdateResult:
    """Install `bundle` (a path or URL) if it has `sha256`, switch to it, and keep it
    only if it comes up healthy within `deadline_s`. Never raises for a bad bundle or a
    failed step: the result says what happened (and is written to the data dir).
    `layout` defaults to the kiosk's own (`/opt/alliance-kiosk` under `/`)."""
    layout = layout or Layout()
    say = progress or (lambda line: log.info("%s", line))
    probe = probe or health_file_probe(layout.health_file)
    restart = restart or systemctl_restart(layout, say)
    started = time.monotonic()
    layout.base.mkdir(parents=True, exist_ok=True)
    with exclusive(layout) as got_lock:
        if not got_lock:  # the other one's result stands: nothing is recorded
            say("another update is running")
            return UpdateResult(None, "refused", "busy: another update is running")
        try:
            result = _update(bundle, sha256.strip().lower(), layout, probe, restart, deadline_s,
                             poll_s, python, cmd_id, say)  # fmt: skip
        except UpdateRefused as exc:
            result = UpdateResult(None, "refused", str(exc), previous=layout.current_version())
        result.cmd_id = cmd_id
        result.took_s = round(time.monotonic() - started, 1)
        record_result(layout, result)
        layout.pending_file.unlink(missing_ok=True)  # the verdict is recorded
    say(f"result: {result.result} ({result.reason})")
    return result


def rollback_target(layout: Layout, version: str, previous: str | None) -> str | None:
    """Where an update to `version` goes back to: the last release judged healthy, else
    (a layout from before the marker) the one running before; None without a whole slot."""
    for candidate in (layout.last_healthy_version(), previous):
        if candidate != version and layout.complete(candidate):
            return candidate
    return None


def _update(
    bundle: str, sha256: str, layout: Layout, probe: HealthProbe, restart: Callable[[], None],
    deadline_s: float, poll_s: float, python: str | None, cmd_id: str | None, say: Progress,
) -> UpdateResult:  # fmt: skip
    if not SHA256_RE.match(sha256):
        raise UpdateRefused("bad-sha256", "--sha256 must be 64 hex digits")
    with tempfile.TemporaryDirectory(prefix=".incoming-", dir=layout.base) as incoming:
        path = fetch(bundle, Path(incoming), say)
        say(f"checking the bundle's sha256 ({path.stat().st_size // 1_000_000} MB)")
        got = file_sha256(path)
        if got != sha256:
            raise UpdateRefused(
                "sha256-mismatch", f"the bundle's sha256 is {got}, not the {sha256} given"
            )
        manifest = verified_manifest(path, say)
        version = manifest["version"]
        previous = layout.current_version()
        slot = layout.releases / version
        if previous == version:
            raise UpdateRefused("already-running", f"{version} is the running release")
        if slot.exists() or slot.is_symlink():
            say(f"removing an earlier, unused slot {slot.name}")
            slots.remove(slot)
        try:
            install_slot(path, manifest, slot, python, say)
        except Exception as exc:  # current is untouched: the new slot goes
            slots.remove(slot)
            return UpdateResult(version, "failed", f"install failed: {exc}", previous=previous)
    back_to = rollback_target(layout, version, previous)
    say(f"switching current: {previous or '(none)'} -> {version}")
    switched_at = datetime.now(UTC)
    write_atomic(layout.pending_file, json.dumps({
        "version": version, "previous": previous, "back_to": back_to, "cmd_id": cmd_id,
        "since": switched_at.isoformat(timespec="seconds"),
    }) + "\n", 0o644)  # fmt: skip
    slots.switch(layout, version)
    try:
        restart()
        health = wait_healthy(probe, version, switched_at, deadline_s, poll_s, say)
        judged = "no health report from it" if health is None else verdict(health)
    except Exception as exc:
        judged = f"restart failed: {exc}"
    if judged == "healthy":
        slots.point(layout, LAST_HEALTHY, version)  # only ever after a healthy verdict
        slots.prune(layout, keep=(version, previous))
        return UpdateResult(version, "ok", f"healthy within {deadline_s:.0f} s", previous=previous)
    reason = f"{version} {judged} within {deadline_s:.0f} s"
    if back_to is None:
        return UpdateResult(
            version, "failed", f"{reason}; no healthy release to go back to", previous=previous
        )
    say(f"rolling back to {back_to}: {reason}")
    slots.switch(layout, back_to)
    try:
        restart()
    except Exception as exc:
        reason += f"; restart after the rollback failed: {exc}"
    return UpdateResult(version, "rolled_back", reason, previous=previous)
