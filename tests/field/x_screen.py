"""A real X screen for the kiosk's window: Xvfb plus a kiosk window manager, and what the
X server itself says about a window (geometry, `_NET_WM_STATE`, the cursor's pixels).

Why a window manager: on X11, SDL's full screen is a request to the window manager
(`_NET_WM_STATE_FULLSCREEN`); a bare X server grants nothing, so the window would stay
at its windowed size whatever the kiosk asked. matchbox-window-manager is what X
kiosks run. It maximises every window, which is why the tests read the full-screen
state and the cursor, not only the size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SCREEN = (1024, 600)


@dataclass(frozen=True)
class XWindow:
    """A top-level window as `xwininfo` reports it."""

    wid: str
    x: int
    y: int
    width: int
    height: int


@contextmanager
def x_screen(size: tuple[int, int] = SCREEN) -> Iterator[str]:
    """An Xvfb screen of `size` with matchbox-window-manager on it; yields its DISPLAY."""
    missing = [tool for tool in ("Xvfb", "matchbox-window-manager", "xwininfo", "xprop") if not shutil.which(tool)]
    if missing:
        raise RuntimeError(f"missing {missing}: run `make setup` (scripts/setup_system.sh installs them)")
    # Xvfb picks a free display itself and names it on a pipe (-displayfd): no race with
    # another test run's X server for a display number.
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(
            # -noreset: else the server resets when its last client (a probe) leaves, and a
            # client connecting meanwhile is refused.
            ["Xvfb", "-displayfd", str(write_end), "-noreset", "-screen", "0", f"{size[0]}x{size[1]}x24",
             "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    wm = None
    try:
        with os.fdopen(read_end) as named:
            number = named.readline().strip()  # EOF (empty) if Xvfb died first
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not start (exit {server.poll()})")
        display = f":{number}"
        env = {**os.environ, "DISPLAY": display}
        deadline = time.monotonic() + 20
        while subprocess.run(["xwininfo", "-root"], env=env, capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb {display} did not start")
            time.sleep(0.05)
        wm = subprocess.Popen(
            ["matchbox-window-manager", "-use_titlebar", "no"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        while "_NET_SUPPORTING_WM_CHECK(WINDOW)" not in xprop(display, "-root", "_NET_SUPPORTING_WM_CHECK"):
            if wm.poll() is not None:
                raise RuntimeError(f"matchbox-window-manager exited {wm.returncode}: {wm.stderr.read()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("matchbox-window-manager did not start within 20 s")
            time.sleep(0.05)
        yield display
    finally:
        for proc in (wm, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def xprop(display: str, *args: str) -> str:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(["xprop", *args], env=env, capture_output=True, text=True, timeout=10).stdout


def window_named(display: str, title: str) -> XWindow | None:
    """The viewable top-level window called `title`, None while there is none."""
    env = {**os.environ, "DISPLAY": display}
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, timeout=10).stdout
    for line in tree.splitlines():
        if f'"{title}"' in line:
            wid = line.split()[0]
            info = subprocess.run(["xwininfo", "-id", wid], env=env, capture_output=True, text=True, timeout=10).stdout
            fields = dict(
                (key.strip(), value.strip()) for key, _, value in (ln.partition(":") for ln in info.splitlines())
            )
            if fields.get("Map State") != "IsViewable":
                continue
            return XWindow(wid, int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"]),
                           int(fields["Width"]), int(fields["Height"]))  # fmt: skip
    return None


def wm_state(display: str, wid: str) -> str:
    """The window's `_NET_WM_STATE` atoms, as the window manager set them."""
    return xprop(display, "-id", wid, "_NET_WM_STATE")


class _CursorImage(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_short), ("y", ctypes.c_short),
        ("width", ctypes.c_ushort), ("height", ctypes.c_ushort),
        ("xhot", ctypes.c_ushort), ("yhot", ctypes.c_ushort),
        ("cursor_serial", ctypes.c_ulong),
        ("pixels", ctypes.POINTER(ctypes.c_ulong)),
        ("atom", ctypes.c_ulong),
        ("name", ctypes.c_char_p),
    ]  # fmt: skip


def visible_cursor_pixels(display: str) -> int:
    """How many pixels of the pointer's cursor image are not fully transparent, as the X
    server's XFixes extension shows it (SDL hides a cursor by setting a blank one)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xfixes = ctypes.CDLL(ctypes.util.find_library("Xfixes") or "libXfixes.so.3")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XFree.argtypes = [ctypes.c_void_p]
    xfixes.XFixesGetCursorImage.restype = ctypes.POINTER(_CursorImage)
    xfixes.XFixesGetCursorImage.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(display.encode())
    if not handle:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        image = xfixes.XFixesGetCursorImage(handle)
        if not image:
            raise RuntimeError("XFixesGetCursorImage failed")
        try:
            cursor = image.contents
            count = cursor.width * cursor.height
            return sum(1 for i in range(count) if (cursor.pixels[i] >> 24) & 0xFF)
        finally:
            x11.XFree(image)
    finally:
        x11.XCloseDisplay(handle)
