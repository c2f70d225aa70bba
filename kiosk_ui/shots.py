"""Screenshots of every screen in both languages, taken through the real app and window.

Used by `python -m kiosk_ui --screenshots DIR` and the UI tests: a reviewer looks at
the PNGs to catch what asserts cannot (boxes instead of Chinese, overlaps, tiny text).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from firmware.view import KioskView

from .samples import sample_views


def shot_plan(languages: tuple[str, ...] = ("zh", "en")) -> Iterator[tuple[str, KioskView]]:
    """(file stem, view) for every sample view in every language."""
    for language in languages:
        for name, view in sample_views(language).items():
            yield f"{name}_{language}", replace(view, language=language)


def save_window_png(path: Path) -> Path:
    """Window.screenshot appends a counter (x0001.png): take it, then move it to `path`."""
    from kivy.core.window import Window

    path.parent.mkdir(parents=True, exist_ok=True)
    written = Window.screenshot(name=str(path.with_suffix("")) + ".png")
    if not written:
        raise RuntimeError(f"Kivy wrote no screenshot for {path}")
    os.replace(written, path)
    return path


def take_screenshots_in_app(
    app: object,
    out_dir: Path,
    plan: list[tuple[str, KioskView]],
    done: Callable[[list[Path]], None],
    frames_per_shot: int = 3,
) -> None:
    """Drive the running app on the Kivy clock: show each view, let it draw, save it."""
    from kivy.clock import Clock

    saved: list[Path] = []
    steps = iter(plan)
    state = {"frame": 0, "current": None}

    def tick(_dt: float) -> bool:
        if state["current"] is None:
            try:
                state["current"] = next(steps)
            except StopIteration:
                done(saved)
                return False
            app.apply_view(state["current"][1])  # type: ignore[attr-defined]
            state["frame"] = 0
            return True
        state["frame"] += 1
        if state["frame"] >= frames_per_shot:
            saved.append(save_window_png(out_dir / f"{state['current'][0]}.png"))
            state["current"] = None
        return True

    Clock.schedule_interval(tick, 0)
