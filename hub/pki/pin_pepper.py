"""The PIN pepper file: the server-side key of every stored PIN hash (hub/ledger/pins.py),
kept outside the ledger in a 0600 file (`[hub] pin_pepper_file`) that `python -m hub pki
init` writes beside the alliance's other secrets (`PkiPaths.pin_pepper`).

What a caller may rely on: `read_pepper_file` refuses a file group or others can read,
one that is missing, and one shorter than 32 bytes, with a `PinPepperError` naming the
file and the fix; `write_pepper_file` never replaces an existing file.
"""

from __future__ import annotations

import os
from pathlib import Path

from contract.private_files import shared_with_others


class PinPepperError(ValueError):
    """The configured pepper file cannot be used (missing, readable by others, too short)."""


def read_pepper_file(path: Path) -> bytes:
    """The pepper in `path` (at least 32 bytes; hex text or raw). Refuses a file group or
    others can read, as `hub/pki/pki.py` refuses keys, naming the fix."""
    try:
        data = path.read_bytes()
        why = shared_with_others(path, "the PIN pepper")
    except OSError as exc:
        raise PinPepperError(f"{path}: cannot read the PIN pepper file ({exc.strerror})") from exc
    if why:
        raise PinPepperError(f"{path}: refused, {why}")
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 32:
        raise PinPepperError(f"{path}: the PIN pepper must hold at least 32 bytes (64 hex digits)")
    return key


def write_pepper_file(path: Path) -> bytes:
    """Create a new random pepper file, 0600 (for `[hub] pin_pepper_file`)."""
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    return key
