"""Heartbeats of the kiosk's worker threads, and the watchdog that vouches for them.

Why: systemd's watchdog restarts a kiosk that stops pinging, but a Python process
whose main thread still runs pings happily while its card poller is stuck in a dead SPI
transfer. So each worker (the core's event loop, the card poller, each scanner reader,
the hub link's pump, the UI loop) registers here and calls its `Heartbeat.beat()` from
its own loop, and `ServiceWatchdog` sends `WATCHDOG=1` only while every registered
worker has beaten within its `stale_after_s`.

What a caller may rely on:
- `beat()` is cheap (one clock read, one attribute store) and safe from any thread.
- A worker that has not beaten for `stale_after_s` is *stale*: the watchdog logs its
  name (once per episode, at error level), puts `stale=<names>` in `STATUS=` and sends
  no `WATCHDOG=1` until it beats again. systemd then restarts the kiosk after
  `WatchdogSec`.
- `WATCHDOG=1` goes out every half watchdog period (`WATCHDOG_USEC/2`); `STATUS=` is
  sent when its text changes, looked at every `status_every_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.service_notify import ServiceNotifier

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 10.0


@dataclass
class Heartbeat:
    """One worker's handle: pass `beat` to the worker, which calls it from its loop."""

    name: str
    stale_after_s: float
    clock: Callable[[], float] = time.monotonic
    last: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.last = self.clock()  # registering counts as the first beat

    def beat(self) -> None:
        self.last = self.clock()

    def age(self, now: float) -> float:
        return now - self.last


class HeartbeatRegistry:
    """The workers that must all be alive for the kiosk to count as healthy."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._beats: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()

    def register(self, name: str, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Heartbeat:
        """A new heartbeat for `name` (replacing an earlier one of the same name)."""
        heartbeat = Heartbeat(name, stale_after_s, self.clock)
        with self._lock:
            self._beats[name] = heartbeat
        return heartbeat

    def unregister(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._beats)

    def stale(self) -> list[str]:
        """Names of the workers that have not beaten within their `stale_after_s`."""
        now = self.clock()
        with self._lock:
            beats = list(self._beats.values())
        return [b.name for b in beats if b.age(now) > b.stale_after_s]


class ServiceWatchdog:
    """The `service-watchdog` thread: pings systemd while every worker is alive and keeps
    `STATUS=` current. `status()` gives the kiosk's own line, e.g.
    "screen=home link=online queued=0"."""

    def __init__(
        self,
        notifier: ServiceNotifier,
        registry: HeartbeatRegistry,
        status: Callable[[], str],
        *,
        ping_every_s: float | None = None,
        status_every_s: float = 1.0,
    ) -> None:
        self.notifier = notifier
        self.registry = registry
        self.status = status
        period = notifier.watchdog_s
        self.ping_every_s = ping_every_s if ping_every_s is not None else (period / 2 if period else None)
        self.status_every_s = status_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status: str | None = None
        self._reported: set[str] = set()

    def start(self) -> ServiceWatchdog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="service-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def status_line(self) -> str:
        """The kiosk's status, with the stale workers named when there are any."""
        try:
            line = self.status()
        except Exception as exc:  # the status must never stop the watchdog
            line = f"status-error={type(exc).__name__}"
        stale = self.registry.stale()
        return f"{line} stale={','.join(stale)}" if stale else line

    def check(self) -> list[str]:
        """Look once: log newly stale workers, send STATUS when it changed; the stale names."""
        stale = self.registry.stale()
        for name in sorted(set(stale) - self._reported):
            log.error("worker %s has stopped beating: systemd's watchdog will restart the kiosk", name)
        for name in sorted(self._reported - set(stale)):
            log.warning("worker %s is beating again", name)
        self._reported = set(stale)
        line = self.status_line()
        if line != self._last_status:
            self._last_status = line
            self.notifier.status(line)
        return stale

    def _run(self) -> None:
        next_ping = time.monotonic()
        while not self._stop.is_set():
            stale = self.check()
            now = time.monotonic()
            if self.ping_every_s is not None and now >= next_ping:
                if not stale:
                    self.notifier.watchdog()
                next_ping = now + self.ping_every_s
            wait = self.status_every_s
            if self.ping_every_s is not None:
                wait = min(wait, max(0.0, next_ping - time.monotonic()))
            self._stop.wait(wait)
