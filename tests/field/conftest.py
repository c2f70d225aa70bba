"""Fixtures for the kiosk as deployed: a real notify socket like systemd's."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class NotifySocket:
    """A bound AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET; records
    each datagram with the monotonic time it arrived."""

    path: str
    sock: socket.socket
    received: list[tuple[float, str]] = field(default_factory=list)

    def collect(self, seconds: float) -> list[tuple[float, str]]:
        """Everything that arrives in the next `seconds`."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(min(left, 0.1))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))
        return self.received

    def wait_for(self, line: str, timeout: float) -> float:
        """Wait until a datagram carries `line`; the time it arrived."""
        end = time.monotonic() + timeout
        seen = len(self.received)
        while time.monotonic() < end:
            self.collect(0.05)
            for at, text in self.received[seen:]:
                if line in text.split("\n"):
                    return at
        raise AssertionError(f"no {line!r} within {timeout} s; got {self.received!r}")

    def lines(self, prefix: str) -> list[tuple[float, str]]:
        return [(at, ln) for at, text in self.received for ln in text.split("\n") if ln.startswith(prefix)]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield NotifySocket(path, sock)
    sock.close()
