"""Text from a file or a config shown in one line of an error or a log, control characters
escaped, so a path holding a newline or a carriage return cannot split or forge a line."""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str | Path) -> str:
    """`text` with each control character written as `\\xNN`; everything else (Chinese too) kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
