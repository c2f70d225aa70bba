"""`Sip2Pool`: a few logged-in connections to one system, with backoff when it is down.

What a caller may rely on:
- `with pool.client() as c:` hands out a connected `Sip2Client` for the block's length,
  to one thread at a time; at most `size` connections exist.
- When connecting fails (or a call times out), the system is "down" for a backoff that
  doubles from `backoff_min_s` to `backoff_max_s`; while it lasts `client()` raises
  `Sip2Unavailable` at once, naming the last error and when the next try is, so a kiosk
  waits milliseconds, not `timeout_s`, per request. The first success resets it.
- A connection that an error closed is not handed out again, and frees its place (one
  lost whenever the system died mid-call once filled the pool for ever: found by the
  chaos soak, bench/chaos.py); one idle for longer than
  `keepalive_s` is checked with an SC status (99) first, and replaced if that fails.
- `state()` tells `hub status` the link, the last error and the time to the next try.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hub.sip2.errors import Sip2Error, Sip2Unavailable
from hub.sip2.session import Sip2Client
from hub.sip2.system import Sip2System


@dataclass(frozen=True)
class PoolState:
    """The link to one system as `hub status` shows it."""

    system: str
    up: bool | None  # None: not tried yet
    last_error: str | None
    retry_in_s: float | None  # while in backoff
    open_connections: int


class Sip2Pool:
    """A few connections per system; reconnect with backoff; `with pool.client() as c:`."""

    def __init__(
        self,
        system: Sip2System,
        size: int = 2,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        keepalive_s: float = 60.0,
        client_factory: Callable[[Sip2System], Sip2Client] = Sip2Client,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.system = system
        self._size = size
        self._backoff_min = backoff_min_s
        self._backoff_max = backoff_max_s
        self._keepalive = keepalive_s
        self._factory = client_factory
        self._now = monotonic
        self._cond = threading.Condition()
        self._idle: list[tuple[Sip2Client, float]] = []  # (client, last used)
        self._count = 0
        self._closed = False
        self._up: bool | None = None
        self._last_error: str | None = None
        self._backoff = 0.0
        self._down_until = 0.0

    @contextmanager
    def client(self) -> Iterator[Sip2Client]:
        """A connected client for the `with` block; Sip2Unavailable (fast while in backoff)."""
        client = self._take()
        try:
            yield client
        except Sip2Unavailable as exc:
            self._failed(str(exc))
            client.close()
            self._give_back(client)  # closed: counted out, so its place is free again
            raise
        except BaseException:
            self._give_back(client)
            raise
        else:
            self._give_back(client)

    def close(self) -> None:
        """Close every idle connection; connections in use close when given back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for client, _ in idle:
            client.close()

    def state(self) -> PoolState:
        with self._cond:
            wait = self._down_until - self._now()
            return PoolState(self.system.name, self._up, self._last_error,
                             wait if wait > 0 else None, self._count)

    # ---- internals ----

    def _take(self) -> Sip2Client:
        deadline = self._now() + self.system.timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise Sip2Unavailable(f"{self.system.label}: the pool is closed")
                self._check_backoff()
                if self._idle:
                    client, last_used = self._idle.pop()
                    break
                if self._count < self._size:
                    self._count += 1
                    client, last_used = None, 0.0
                    break
                remaining = deadline - self._now()
                if remaining <= 0:
                    raise Sip2Unavailable(
                        f"{self.system.label}: all {self._size} connections busy for "
                        f"{self.system.timeout_s:g} s")
                self._cond.wait(remaining)
        try:
            if client is None:
                client = self._factory(self.system)
                client.connect()
            elif not client.connected:
                client.connect()
            elif self._now() - last_used > self._keepalive:
                try:
                    client.sc_status()
                except Sip2Error:
                    client.connect()
        except Sip2Error as exc:
            if client is not None:
                client.close()
            with self._cond:
                self._count -= 1
                self._cond.notify()
            self._failed(str(exc))
            raise
        with self._cond:
            self._up, self._backoff, self._down_until = True, 0.0, 0.0
        return client

    def _check_backoff(self) -> None:
        wait = self._down_until - self._now()
        if wait > 0:
            raise Sip2Unavailable(
                f"{self.system.label}: down, next try in {wait:.1f} s "
                f"(last error: {self._last_error})")

    def _failed(self, error: str) -> None:
        with self._cond:
            self._up = False
            self._last_error = error
            self._backoff = min(self._backoff_max, max(self._backoff_min, self._backoff * 2))
            self._down_until = self._now() + self._backoff

    def _give_back(self, client: Sip2Client) -> None:
        with self._cond:
            if client.connected and not self._closed:
                self._idle.append((client, self._now()))
            else:
                self._count -= 1
                client.close()
            self._cond.notify()
