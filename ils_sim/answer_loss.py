"""Answers lost on the wire: the system acts on a request, then the connection drops
before its answer reaches the client, as when a network path dies mid-exchange.

Tests arm it on a running simulator (`IlsSimulator.lose_answers("11")`): the next
answer of that kind is not written; the connection is closed at once instead (TLS and
TCP both torn down), so the client sees a request sent and the socket closed without a
reply. The handler has already run (the loan is made, the journal has the request),
which is what makes a retry uncertain. Nothing is lost unless armed.

What a caller may rely on: the count of armed losses is per request code, thread-safe,
and each loss is spent by exactly one answer; `lost` counts the answers dropped so far.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import anyio
from anyio import aclose_forcefully
from anyio.abc import ByteStream

# The answer's message code for each request code we may lose answers to.
ANSWER_TO = {"11": "12", "09": "10", "29": "30", "63": "64", "17": "18", "23": "24", "35": "36", "99": "98"}


class AnswerLoss:
    """Which answers to drop next: `arm("11", times=1)`; `wrap(stream)` applies it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()  # request code -> answers dropped

    def arm(self, request_code: str, times: int = 1) -> None:
        """Drop the next `times` answers to `request_code` (e.g. "11", a checkout)."""
        if request_code not in ANSWER_TO:
            raise ValueError(f"no answer to lose for request code {request_code!r}")
        with self._lock:
            self._armed[ANSWER_TO[request_code]] += times

    def take(self, frame: bytes) -> str | None:
        """The request code whose answer `frame` is, when a loss of it is armed (spent now)."""
        code = frame[:2].decode("ascii", "replace")
        with self._lock:
            if self._armed[code] <= 0:
                return None
            self._armed[code] -= 1
            request = next(r for r, a in ANSWER_TO.items() if a == code)
            self.lost[request] += 1
            return request

    def wrap(self, stream: ByteStream) -> ByteStream:
        return _LosingStream(stream, self)


class _LosingStream(ByteStream):
    """A connection's stream that closes itself instead of sending an armed answer."""

    def __init__(self, inner: ByteStream, loss: AnswerLoss) -> None:
        self._inner = inner
        self._loss = loss

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        if self._loss.take(item) is not None:
            await aclose_forcefully(self._inner)
            raise anyio.BrokenResourceError("answer lost on the wire (ils_sim fault)")
        await self._inner.send(item)

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self._inner.extra_attributes
