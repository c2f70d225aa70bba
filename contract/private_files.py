"""Files only their owner may read: the kiosk's journal and log, the hub's ledger.

Why here: the kiosk and the hub both keep card numbers and loans at rest, and both must
create those files 0600 (issue 10, item 6). SQLite creates a database's `-wal`, `-shm`
and `-journal` files with the mode of the database file itself, so making the main file
0600 before SQLite opens it is enough for all of them.

What a caller may rely on: after `make_private(path)` the file exists, is owned by the
calling user (when it was created here) and has mode 0600; an existing file whose mode
let group or others in is tightened to 0600, its content untouched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600


def make_private(path: Path | str) -> Path:
    """Create `path` empty with mode 0600 if it does not exist (never through a wider
    mode, whatever the umask), or tighten an existing file to 0600; returns the path."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, PRIVATE_MODE)
    else:
        os.close(fd)
    return path


def shared_with_others(path: Path | str, what: str = "a secret") -> str | None:
    """Why a secret file (a key, a password, a pepper) must be refused, or None when only
    its owner can read it: a secret others could copy is no longer this machine's alone.
    The one check behind every "refused, group or others can read it" of kiosk and hub."""
    mode = Path(path).stat().st_mode
    if mode & 0o077:
        return (
            f"group or others can read it (mode {stat.S_IMODE(mode):04o}); {what} must be "
            f"0600: chmod 600 {path}, and replace it if someone else read it"
        )
    return None
