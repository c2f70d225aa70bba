"""`--fullscreen` (what the systemd unit passes) makes the real Kivy window fill the
screen with the cursor hidden, as the X server sees it: the kiosk started from its
command line on Xvfb with a kiosk window manager (tests/field/x_screen.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.field.x_screen import (
    SCREEN,
    XWindow,
    visible_cursor_pixels,
    window_named,
    wm_state,
    x_screen,
)

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Capital Library Alliance kiosk"
T = TypeVar("T")


def _until(what: str, probe: Callable[[], T | None], timeout: float, kiosk: subprocess.Popen[bytes]) -> T:
    """Poll `probe` until it gives something (bounded); fails early if the kiosk died."""
    deadline = time.monotonic() + timeout
    while (got := probe()) is None or got is False:
        if kiosk.poll() is not None:
            pytest.fail(f"the kiosk exited ({kiosk.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.1)
    return got


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with x_screen(SCREEN) as name:
        yield name


def _start_kiosk(display: str, tmp_path: Path, fullscreen: bool) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=display, KIVY_NO_ARGS="1", KIVY_HOME=str(tmp_path / "kivy"))
    argv = [sys.executable, "-m", "kiosk_tools", "--sim", "--broker", "mqtt://127.0.0.1:9",
            "--journal", str(tmp_path / "journal.sqlite3")]  # fmt: skip
    with open(tmp_path / "kiosk.err", "wb") as err:  # the child keeps its own copy
        return subprocess.Popen(
            argv + (["--fullscreen"] if fullscreen else []),
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )


def _stop(kiosk: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops it: the window closes and the kiosk exits 0."""
    if kiosk.poll() is None:
        kiosk.send_signal(signal.SIGTERM)
    try:
        return kiosk.wait(30)
    except subprocess.TimeoutExpired:
        kiosk.kill()
        kiosk.wait(5)
        raise


def test_fullscreen_fills_the_screen_and_hides_the_cursor(display: str, tmp_path: Path) -> None:
    kiosk = _start_kiosk(display, tmp_path, fullscreen=True)
    try:
        window: XWindow = _until("kiosk window", lambda: window_named(display, TITLE), 90, kiosk)
        _until("full-screen state", lambda: "_NET_WM_STATE_FULLSCREEN" in wm_state(display, window.wid), 10, kiosk)
        covers = _until(
            "window covering the screen",
            lambda: (w := window_named(display, TITLE)) and (w.x, w.y, w.width, w.height) == (0, 0, *SCREEN),
            10, kiosk,
        )
        assert covers
        _until("hidden cursor", lambda: visible_cursor_pixels(display) == 0, 10, kiosk)
    finally:
        code = _stop(kiosk)
    assert code == 0, (tmp_path / "kiosk.err").read_text()[-2000:]


def test_without_the_flag_the_window_is_not_full_screen_and_shows_the_cursor(
    display: str, tmp_path: Path
) -> None:
    """The other half: the same probes tell a plain window from a full-screen one."""
    kiosk = _start_kiosk(display, tmp_path, fullscreen=False)
    try:
        window: XWindow = _until("kiosk window", lambda: window_named(display, TITLE), 90, kiosk)
        _until("visible cursor", lambda: visible_cursor_pixels(display) > 0, 10, kiosk)
        assert "_NET_WM_STATE_FULLSCREEN" not in wm_state(display, window.wid)
    finally:
        code = _stop(kiosk)
    assert code == 0, (tmp_path / "kiosk.err").read_text()[-2000:]
