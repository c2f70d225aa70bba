"""Reading, as root, a file in a directory the kiosk's user can write (its state
directory: the health file, the update order).

Whoever writes that directory can put a link to any file there (root would read
/etc/shadow as an order), or a FIFO (root would block on it). What a caller may rely
on: `read_plain_file` reads only a plain file, opened without following a link and
checked through the open descriptor, and never more than `limit` bytes; anything else
raises OSError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_plain_file(path: Path, limit: int) -> bytes:
    """Up to `limit` bytes of `path` if it is a plain file (see the module doc)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a plain file")
        return os.read(fd, limit)
    finally:
        os.close(fd)
