"""UI figures for `make bench`: frame time while the attract screen animates, and the
UI process's resident memory. Runs in a child process so the bench process never
opens a Kivy window (Kivy allows one window per process) and RSS is the UI's alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure_here(frames: int = 300, size: tuple[int, int] = (800, 480)) -> dict[str, float]:
    """Animate the attract screen for `frames` frames; time each full frame (clock, layout, draw)."""
    import time

    from kiosk_ui.headless import configure_window, prepare_kivy_environment

    prepare_kivy_environment()
    configure_window(size)
    from kivy.config import Config

    # Uncapped: Clock.tick would otherwise sleep to hold 60 fps and we'd time the sleep.
    Config.set("graphics", "maxfps", "0")
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    window = EventLoop.window
    window.size = size
    from firmware.view import KioskView
    from kiosk_ui.app import KioskApp

    started = time.perf_counter()
    app = KioskApp(lambda _intent: None)
    root = app.build()
    window.add_widget(root)
    app.apply_view(KioskView())
    EventLoop.idle()
    ready_ms = (time.perf_counter() - started) * 1000
    hint = app.screens["attract"].hint
    hint.start()  # on_enter does this in the running app
    for _ in range(10):  # warm up textures and shaders
        EventLoop.idle()
    times: list[float] = []
    redraws = 0
    for _ in range(frames):
        # Pace at 60 fps ourselves (outside the timed part) so the animation is due
        # each frame: what is timed is one frame's work, clock + layout + GL draw.
        time.sleep(1 / 60)
        before = hint.offset
        t0 = time.perf_counter()
        EventLoop.idle()
        redraws += hint.offset != before
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "ui_frames": float(frames),
        "ui_frames_animated": float(redraws),
        "ui_frame_avg_ms": sum(times) / len(times),
        "ui_frame_p50_ms": times[len(times) // 2],
        "ui_frame_p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        "ui_build_ms": ready_ms,
        "ui_rss_mb": _rss_mb(),
    }


def measure_ui(frames: int = 300, timeout_s: float = 120) -> dict[str, float]:
    """Frame time (avg/p50/p99 ms) animating the attract screen, build time and RSS (MB)."""
    env = dict(os.environ)
    env.setdefault("KIVY_NO_ARGS", "1")
    env.setdefault("KIVY_NO_CONSOLELOG", "1")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from bench.ui import _measure_here; "
        "print('UI-BENCH ' + json.dumps(_measure_here(int(sys.argv[2]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(frames)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("UI-BENCH "):
            return json.loads(line.removeprefix("UI-BENCH "))
    raise RuntimeError(f"UI benchmark failed (exit {done.returncode}): {done.stderr[-2000:]}")


if __name__ == "__main__":
    print(json.dumps(measure_ui(), indent=2))
