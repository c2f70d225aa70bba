"""Replace a file so that after a power cut it is either the old file or the new one.

Why here: the kiosk (its health file, the update order it leaves) and the root updater
(its result, the pending switch, a slot's installed mark) both write small files that
another process reads, on an SD card that loses power without warning. One writer, so
both get the same guarantee.

What a caller may rely on: `write_atomic(path, data, mode)` writes `data` to a temporary
file in `path`'s own directory, flushes and fsyncs it, sets its mode through the open
descriptor (never by name: someone who may write the directory could swap names in
between), renames it over `path` and fsyncs the directory, so the rename itself is on
disk when it returns. Readers never see a half-written file; if it raises (OSError),
`path` is what it was and no temporary file is left. It creates no directories.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, data: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (text is written as UTF-8), durably: see the module doc."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path | str) -> None:
    """fsync `directory`, so a rename or a new link in it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
