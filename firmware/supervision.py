"""Puts a built kiosk under systemd's eye: heartbeats wired into its workers, the
watchdog thread, and READY / STATUS / STOPPING.

The workers watched are the core's event loop (`kiosk-core`), every device whose
driver has a `beat` hook (the card poller, each scanner reader), the hub link's pump
(`hub-link`: it beats through outages, since its pump never waits on the network) and,
registered by the caller that owns it, the UI's loop. Each beats from its own loop; see
`firmware.heartbeats` for what happens when one stops.

Off systemd (no `NOTIFY_SOCKET`) all of this still runs and costs one thread that
wakes once a second; nothing is sent.

With a state directory (`STATE_DIRECTORY`, set by systemd) it also keeps the health
file the updater waits for after a switch (firmware.health): READY, the link, and one
self-test of every device run right after READY.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from contract.health_file import HEALTH_FILE
from firmware.assembly import Kiosk
from firmware.health import HealthReporter, state_dir
from firmware.heartbeats import DEFAULT_STALE_AFTER_S, Heartbeat, HeartbeatRegistry, ServiceWatchdog
from firmware.service_notify import ServiceNotifier


def kiosk_status(kiosk: Kiosk) -> str:
    """What `systemctl status` shows: "screen=home link=online queued=0"."""
    runtime = kiosk.runtime
    view = runtime.view
    queued = runtime.state.service.journal_pending
    return f"screen={view.screen} link={'online' if view.online else 'offline'} queued={queued}"


@dataclasses.dataclass
class Supervision:
    kiosk: Kiosk
    notifier: ServiceNotifier
    registry: HeartbeatRegistry
    watchdog: ServiceWatchdog
    health: HealthReporter | None = None

    def register(self, name: str, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Heartbeat:
        """A heartbeat for a worker the caller runs (the UI loop)."""
        return self.registry.register(name, stale_after_s)

    def ready(self) -> bool:
        """Tell systemd the kiosk is up (devices started, journal open)."""
        if self.health is not None:
            self.health.mark_ready()
        return self.notifier.ready(self.watchdog.status_line())

    def stop(self) -> None:
        self.notifier.stopping()
        self.watchdog.stop()
        if self.health is not None:
            self.health.stop()
        self.notifier.close()


def supervise(
    kiosk: Kiosk,
    notifier: ServiceNotifier | None = None,
    *,
    registry: HeartbeatRegistry | None = None,
    ping_every_s: float | None = None,
    status_every_s: float = 1.0,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    health_file: Path | None = None,
) -> Supervision:
    """Register the kiosk's workers, hook their beats and start the watchdog thread.
    Call it after `kiosk.start()`; then `ready()` once the kiosk should count as up.
    `health_file` defaults to health.json in the state directory, if there is one."""
    notifier = notifier or ServiceNotifier()
    registry = registry or HeartbeatRegistry()
    kiosk.runtime.beat = registry.register("kiosk-core", stale_after_s).beat
    for name, device in _devices_with_beats(kiosk):
        device.beat = registry.register(name, stale_after_s).beat
    kiosk.link.beat = registry.register("hub-link", stale_after_s).beat
    watchdog = ServiceWatchdog(
        notifier,
        registry,
        lambda: kiosk_status(kiosk),
        ping_every_s=ping_every_s,
        status_every_s=status_every_s,
    ).start()
    if health_file is None and (data := state_dir()) is not None:
        health_file = data / HEALTH_FILE
    health = None
    if health_file is not None:
        health = HealthReporter(
            health_file,
            link_online=lambda: kiosk.runtime.view.online,
            self_test=kiosk.runtime.devices.self_test,
        ).start()
    return Supervision(kiosk, notifier, registry, watchdog, health)


def _devices_with_beats(kiosk: Kiosk) -> list[tuple[str, Any]]:
    """Every device of the set whose driver runs a loop with a `beat` hook, by its name
    in the set (card_reader, scanner, chute_scanner)."""
    devices = kiosk.runtime.devices
    found = []
    for f in dataclasses.fields(devices):
        device = getattr(devices, f.name)
        if callable(getattr(device, "beat", None)):
            found.append((f.name, device))
    return found
