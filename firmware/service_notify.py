"""Telling systemd how the kiosk is doing: the sd_notify datagram protocol, no package.

systemd passes a Unix datagram socket in `NOTIFY_SOCKET` to a `Type=notify` service
(a leading `@` names a socket in the abstract namespace) and, with `WatchdogSec=`, the
watchdog period in `WATCHDOG_USEC` (and the pid it is meant for in `WATCHDOG_PID`).
Each message is one datagram of `KEY=value` lines: `READY=1`, `WATCHDOG=1`,
`STATUS=...`, `STOPPING=1`.

What a caller may rely on:
- With no `NOTIFY_SOCKET` (a developer's machine, the tests, the simulator) every send
  is a silent no-op that returns False; nothing is ever raised to the caller.
- A send that fails (the socket gone, systemd restarting) is logged once at debug level
  and returns False: the kiosk keeps serving and the watchdog, missing its ping, does
  the rest.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class ServiceNotifier:
    """One notify socket, opened lazily. Thread-safe: each send is one `sendto`."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # the abstract namespace
        self.address: str | None = address or None
        self.watchdog_s = _watchdog_period(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send `KEY=value` lines as one datagram; False when there is nobody to tell."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            return True
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_period(env: Mapping[str, str]) -> float | None:
    """systemd's watchdog period in seconds, or None when it is off or meant for another
    process (`WATCHDOG_PID` names a different pid)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000
