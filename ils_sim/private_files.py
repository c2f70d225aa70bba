"""Files only the simulator's user may read: its journal and state hold full patron
numbers. Created 0600 from the start (never created readable and tightened later), and
an existing file from an older run is tightened to 0600.

The hub and kiosk have the same rule in `contract.private_files`; the simulator stands
for someone else's system and imports nothing of ours (import-linter), so it keeps its
own copy of these few lines.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600


def open_private(path: Path, flags: int) -> int:
    """`os.open(path, flags | O_CREAT)` with mode 0600 whatever the umask; an existing
    file others could read is tightened first. Returns the descriptor."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_MODE)
    if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_MODE:
        os.fchmod(fd, PRIVATE_MODE)
    return fd


def append_private(path: Path, text: str) -> None:
    """Append `text` (UTF-8) to a 0600 file."""
    fd = open_private(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(text)


def replace_private(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically (a 0600 temp file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
