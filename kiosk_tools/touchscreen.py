"""Connects a running kiosk to the Kivy touchscreen: views out, touches in."""

from __future__ import annotations

from collections.abc import Callable

from firmware.assembly import Kiosk
from firmware.view import KioskView
from kiosk_tools.demo_route import DemoRoute


class RuntimeViews:
    """`view_source` for kiosk_ui: the current view now, every new one as it comes."""

    def __init__(self, kiosk: Kiosk) -> None:
        self._kiosk = kiosk

    def __call__(self) -> KioskView:
        return self._kiosk.runtime.view

    def subscribe(self, callback: Callable[[KioskView], None]) -> None:
        self._kiosk.runtime.on_view(callback)
        callback(self._kiosk.runtime.view)


def run_touchscreen(
    kiosk: Kiosk,
    size: tuple[int, int] | None = None,
    *,
    fullscreen: bool = False,
    route: DemoRoute | None = None,
) -> None:
    """Block in the Kivy app until its window closes (full screen: the panel's own size).
    A simulated kiosk with its demo `route` gets the simulator panel beside it."""
    import kiosk_ui

    controls = None
    if kiosk.rig is not None and route is not None:
        from kiosk_tools.sim_controls import KioskSimControls

        controls = KioskSimControls(kiosk, route)
    kiosk_ui.run_app(
        kiosk.runtime.post,
        RuntimeViews(kiosk),
        sim_controls=controls,
        size=None if fullscreen else size or (1280, 800),
        fullscreen=fullscreen,
    )
