"""The kiosk's Kivy UI: renders `firmware.view.KioskView`, posts `Press` / `PinEntered`.

Importing this package never imports Kivy or opens a window: Kivy reads the
environment at import, so `run_app` prepares SDL (offscreen when there is no display)
first. `KioskApp` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .sim_panel import SimControls

if TYPE_CHECKING:
    from .app import KioskApp

__all__ = ["KioskApp", "SimControls", "run_app"]


def run_app(
    post: Any,
    view_source: Any = None,
    *,
    sim_controls: SimControls | None = None,
    size: tuple[int, int] | None = None,
    fullscreen: bool = False,
) -> Any:
    """Run the UI until it closes. `post(intent)` receives every touch; the returned app's
    `show(view)` may be called from any thread (use `view_source.subscribe` to get it)."""
    from .headless import configure_window, prepare_kivy_environment

    prepare_kivy_environment()
    configure_window(size)
    if fullscreen:
        from kivy.config import Config

        # Before the window exists: on KMS/DRM the window then takes the panel's own mode.
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "show_cursor", "0")
    from .app import start_app

    return start_app(post, view_source, sim_controls=sim_controls, size=size, fullscreen=fullscreen)


def __getattr__(name: str) -> Any:
    if name == "KioskApp":
        from .headless import prepare_kivy_environment

        prepare_kivy_environment()
        from .app import KioskApp

        return KioskApp
    raise AttributeError(name)
