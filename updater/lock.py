"""One updater at a time: an update and the boot check each hold the lock file beside
the slots while they change anything.

What a caller may rely on: `exclusive(layout)` yields True while this process holds
the lock (an flock, so it is released when the process dies, however it dies), and
False at once, without waiting, while another process holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from updater.layout import Layout

LOCK_FILE = ".update.lock"


@contextlib.contextmanager
def exclusive(layout: Layout) -> Iterator[bool]:
    """Holds the lock while the block runs; yields False if another process has it."""
    with (layout.base / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
