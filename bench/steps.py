"""A bench run's steps: each measurement runs numbered, its raw figures kept and turned
into table rows; one that raises becomes a "not measured" row with its reason instead of
stopping the run (bench/__main__.py)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.report import Row, skipped


class Bench:
    """Runs numbered steps; a step that raises becomes a "not measured" row with its reason."""

    def __init__(self, total: int, only: set[str] | None = None) -> None:
        self.total = total
        self.only = only  # None: every step; else the keys to run, the rest left out silently
        self.done = 0
        self.raw: dict[str, Any] = {}
        self.rows: list[Row] = []
        self.started = time.perf_counter()

    def step(
        self, key: str, title: str, measure: Callable[[], Any], rows: Callable[[Any], list[Row]]
    ) -> Any:
        if self.only is not None and key not in self.only:
            return None
        self.done += 1
        print(f"[{self.done}/{self.total}] {title} ...", flush=True)
        t0 = time.perf_counter()
        try:
            raw = measure()
            self.raw[key] = raw
            self.rows.extend(rows(raw))
            print(f"       done in {time.perf_counter() - t0:.1f} s", flush=True)
            return raw
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}".strip()[:300]
            self.raw[key] = {"error": why, "traceback": traceback.format_exc()[-3000:]}
            self.rows.append(skipped(title, why))
            print(f"       FAILED after {time.perf_counter() - t0:.1f} s: {why}", flush=True)
            return None

    def skip(self, key: str, title: str, why: str) -> None:
        if self.only is not None and key not in self.only:
            return
        self.done += 1
        print(f"[{self.done}/{self.total}] {title}: skipped ({why})", flush=True)
        self.raw[key] = {"skipped": why}
        self.rows.append(skipped(title, why))
