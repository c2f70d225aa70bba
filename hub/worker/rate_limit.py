"""Per-kiosk rate limits: a token bucket per kiosk id, in one hub worker.

A kiosk asks at a reader's pace (a lookup, a PIN, a few loans a minute); a kiosk that
asks faster is broken or hostile, and must not starve the others of the worker. Each
kiosk may make `burst` requests at once and `rate_per_s` a second after that. The same
buckets, with their own rate, bound each kiosk's txns (hub/worker/intake.py): a kiosk draining
its journal sends fast, so that rate is far higher.

What a caller may rely on: `allow()` never raises and uses a monotonic clock; it keeps
at most `max_kiosks` buckets (the least recently used go first), so kiosk ids a hostile
client makes up cannot grow memory without bound. One instance per worker, called from
its network thread only (no lock).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

RATE_LIMITED = "rate_limited"
WARN_EVERY_S = 10.0  # one warning per limited kiosk this often, not one per request


class RequestRateLimit:
    """Token buckets by kiosk id."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_kiosks: int = 10_000,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self.max_kiosks = max_kiosks
        # kiosk id -> (tokens, last refill, last warning)
        self._buckets: OrderedDict[str, tuple[float, float, float | None]] = OrderedDict()

    def allow(self, kiosk_id: str) -> bool:
        """Take one token from `kiosk_id`'s bucket: True when there was one."""
        return self.take(kiosk_id)[0]

    def take(self, kiosk_id: str) -> tuple[bool, bool]:
        """(allowed, warn): take one token from `kiosk_id`'s bucket; `warn` is True for a
        refusal when the kiosk was not warned about in the last WARN_EVERY_S."""
        now = self.clock()
        tokens, at, warned = self._buckets.pop(kiosk_id, (float(self.burst), now, None))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        allowed = tokens >= 1.0
        warn = False
        if allowed:
            tokens -= 1.0
        elif warned is None or now - warned >= WARN_EVERY_S:
            warn, warned = True, now
        self._buckets[kiosk_id] = (tokens, now, warned)
        while len(self._buckets) > self.max_kiosks:
            self._buckets.popitem(last=False)
        return allowed, warn


class WarnEvery:
    """Says when a warning about `key` is due: the first time, then once every
    `every_s`; remembers at most `max_keys` keys (the least recently warned go first)."""

    def __init__(
        self, every_s: float = WARN_EVERY_S, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        self.max_keys = max_keys
        self._warned: OrderedDict[str, float] = OrderedDict()

    def due(self, key: str) -> bool:
        now = self.clock()
        last = self._warned.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._warned.pop(key, None)
        self._warned[key] = now
        while len(self._warned) > self.max_keys:
            self._warned.popitem(last=False)
        return True
