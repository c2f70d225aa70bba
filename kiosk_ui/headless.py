"""Choose how Kivy gets a window before Kivy is imported (it reads these at import).

With no X or Wayland display, SDL's `offscreen` driver renders for real through Mesa
(the `dummy` driver has no GL context and exits 102), so screenshots and UI tests work
on a headless build machine.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def has_display(env: MutableMapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def prepare_kivy_environment(env: MutableMapping[str, str] | None = None) -> bool:
    """Set Kivy/SDL variables; returns True when a real display is present.

    Must run before the first `import kivy`; it does not override choices already made.
    """
    env = os.environ if env is None else env
    env.setdefault("KIVY_NO_ARGS", "1")
    display = has_display(env)
    if not display:
        env.setdefault("SDL_VIDEODRIVER", "offscreen")
    return display


def configure_window(size: tuple[int, int] | None = None) -> None:
    """Window size and behaviour, set in Kivy's Config before the window exists."""
    from kivy.config import Config

    if size is not None:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "1")
    # Touchscreens: no red multitouch dots on right-click in demos.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
