"""The life cycle every threaded driver shares: start once, close once, on a daemon thread.

Each driver (card reader, scanners, receipt printer, chute) owns one background thread
that talks to its hardware. `ThreadedDevice` is that thread's life cycle, written once,
as gpiozero's `GPIOThread` and `GPIOBase` give every device the same `close()`:

- `start()` runs the driver's `_run` on one named daemon thread; calling it again is a
  no-op, calling it after `close()` raises `DeviceClosed`.
- `close()` sets the `_stop` event, calls the driver's `_wake` so a thread that sleeps
  on something else (a condition, a job queue) notices, joins the thread for at most
  `join_timeout_s`, then calls the driver's `_release` (antenna off, pins released)
  exactly once, whether or not the thread was ever started. It is idempotent, safe from
  any thread (from the device's own thread it does not join itself), and never raises
  because a thread outlived its bound: that is logged, the thread is a daemon.
- The device is a context manager: entering it starts the thread, leaving it closes.

A driver's `_run` loops while `not self._stop.is_set()` (or until `_wake` tells it
otherwise) and waits with `self._stop.wait(seconds)`, so closing never waits out a
sleep. The lock here guards only the life cycle; a driver keeps its own lock for its
hardware.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class DeviceClosed(RuntimeError):
    """`start()` was called on a device that has been closed; build a new one."""


class ThreadedDevice:
    """Base for a driver with one background thread; see the module docstring.

    Subclasses call `super().__init__(thread_name=..., join_timeout_s=...)` first,
    implement `_run`, and override `_wake` and `_release` when they need to.
    """

    def __init__(self, *, thread_name: str, join_timeout_s: float = 5.0) -> None:
        self.thread_name = thread_name
        self.join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once `close()` has begun: no thread will be started again."""
        return self._closed

    @property
    def running(self) -> bool:
        """True between `start()` and `close()`."""
        return self._thread is not None and not self._closed

    def start(self) -> Self:
        """Start the device's thread (once); returns the device."""
        with self._lifecycle:
            if self._closed:
                raise DeviceClosed(f"{self.thread_name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and release the hardware. Safe to call twice, from any thread."""
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.join_timeout_s)
            if thread.is_alive():
                log.warning(
                    "%s did not stop within %.1f s; left to die with the process",
                    self.thread_name,
                    self.join_timeout_s,
                )
        self._release()

    # -- what a driver provides ----------------------------------------------------------

    def _run(self) -> None:
        """The thread's body: loop until `_stop` is set."""
        raise NotImplementedError

    def _wake(self) -> None:
        """Make a thread that sleeps on something other than `_stop` notice the close."""

    def _release(self) -> None:
        """Release the hardware, once, after the thread has stopped."""

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
