"""Fixed-width text tables for the operator's commands, aligned by display width.

A Chinese character takes two terminal columns, so padding by `len()` pushes every
column after a title or a library name out of line. `wcwidth` gives each string the
columns a terminal really draws; this module is the one place the CLI pads text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wcwidth import wcswidth


def display_width(text: str) -> int:
    """Terminal columns `text` takes (CJK wide characters count two). A string with a
    control character (wcswidth says -1) falls back to its length, never a crash."""
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` display columns (as `str.ljust` by columns)."""
    return text + " " * max(0, width - display_width(text))


def aligned(lines: Sequence[Sequence[str]]) -> str:
    """Rows of cells as text: each column as wide as its widest cell, two spaces apart,
    no trailing spaces."""
    if not lines:
        return ""
    widths = [max(display_width(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(pad(cell, w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def columns(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """Dict rows as a table under upper-case headers (`-` for a missing value)."""
    if not rows:
        return "(none)"
    table = [[k.upper() for k in keys]]
    table += [[str(r.get(k)) if r.get(k) is not None else "-" for k in keys] for r in rows]
    return aligned(table)
