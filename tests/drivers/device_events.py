"""The core's event queue as the driver tests see it: what a device posted, in order."""

from __future__ import annotations

import queue

import pytest

from drivers.events import DeviceEvent


class Events:
    """Drivers post here; a test waits for the next event, or for quiet."""

    def __init__(self) -> None:
        self.queue: queue.Queue[DeviceEvent] = queue.Queue()

    def post(self, event: DeviceEvent) -> None:
        self.queue.put(event)

    def next(self, timeout: float = 3.0) -> DeviceEvent:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("no event arrived")

    def kinds(self, count: int) -> list[type]:
        return [type(self.next()) for _ in range(count)]

    def none_within(self, timeout: float) -> bool:
        """True when nothing arrives within `timeout`; fails naming what did."""
        try:
            extra = self.queue.get(timeout=timeout)
        except queue.Empty:
            return True
        pytest.fail(f"unexpected event {extra!r}")

    def all(self) -> list[DeviceEvent]:
        """Everything posted so far, without waiting."""
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out
