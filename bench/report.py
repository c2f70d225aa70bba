"""Turns the raw benchmark figures into table rows (figure, value, baseline, ratio).

Kept apart from the measuring code so a measurement that failed or was skipped still
gets a row that says why, and so results.json carries the same rows the table shows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of the table. `ratio` is value / baseline; `better` says which way is good."""

    figure: str
    value: str
    baseline: str = "—"
    ratio: float | None = None
    better: str = ""  # "lower" | "higher" | ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0 or math.isnan(value):
        return None
    return value / baseline


def skipped(figure: str, why: str) -> Row:
    return Row(figure, "not measured", note=why)


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def p50_p99_rows(
    figure: str, got: dict[str, Any], base: dict[str, Any] | None, base_name: str, note: str = ""
) -> list[Row]:
    """Two rows (p50, p99) of a latency against a latency baseline."""
    rows = []
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        b = base.get(key) if base else None
        rows.append(
            Row(
                f"{figure} {label}",
                ms(got[key]),
                f"{ms(b)} {base_name}" if b is not None else "—",
                ratio(got[key], b),
                "lower",
                note if label == "p50" else f"n={got.get('n')}, max {ms(got.get('max_ms', got[key]))}",
            )
        )
    return rows


def render_table(rows: list[Row]) -> str:
    """A plain-text table; notes go on their own indented line under a row."""
    header = ("figure", "value", "baseline (same run)", "ratio")
    body = [
        (
            r.figure,
            r.value,
            r.baseline,
            "—" if r.ratio is None else f"{r.ratio:.3g}×" + {"lower": " ↓", "higher": " ↑"}.get(r.better, ""),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]
    sep = "  "
    out = [sep.join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out.append(sep.join("-" * w for w in widths))
    for row, line in zip(rows, body, strict=True):
        out.append(sep.join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if row.note:
            out.append(f"    ({row.note})")
    out.append("ratio = value / baseline; ↓ lower is better, ↑ higher is better")
    return "\n".join(out)
