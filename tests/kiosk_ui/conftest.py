"""A real Kivy window (SDL offscreen when there is no display) shared by the UI tests,
and a fresh KioskApp per test whose intents are recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"


@dataclass
class Harness:
    """Drives the app like a reader would: show a view, let it draw, touch a button."""

    app: Any
    root: Any
    window: Any
    posted: list[object] = field(default_factory=list)

    def frames(self, count: int = 2) -> None:
        from kivy.base import EventLoop

        for _ in range(count):
            EventLoop.idle()

    def show(self, view: Any) -> None:
        self.app.apply_view(view)
        self.frames(3)

    @property
    def screen(self) -> Any:
        return self.app.manager.current_screen

    def visible_widgets(self) -> list[Any]:
        """Widgets on stage now: the root tree (holds only the current screen)."""
        return list(self.root.walk())

    def texts(self) -> list[str]:
        from kivy.uix.label import Label

        return [
            w.text
            for w in self.visible_widgets()
            if isinstance(w, Label) and w.text and w.opacity > 0 and w.height > 1
        ]

    def tap(self, widget: Any) -> None:
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        self.frames(1)

    def button(self, action: str = "", key: str = "") -> Any:
        from kiosk_ui.widgets import KioskButton

        for widget in self.visible_widgets():
            if isinstance(widget, KioskButton) and (
                (action and widget.action == action) or (key and widget.msg_key == key)
            ):
                return widget
        raise AssertionError(f"no button {action or key} on {self.screen.name}")

    def resize(self, size: tuple[int, int]) -> None:
        self.window.size = size
        self.frames(3)
        assert tuple(self.window.size) == size, self.window.size

    def screenshot(self, name: str) -> Path:
        from kiosk_ui.shots import save_window_png

        return save_window_png(ARTIFACTS / f"{name}.png")


@pytest.fixture(scope="session")
def kiosk_window() -> Any:
    from kiosk_ui.headless import configure_window, prepare_kivy_environment

    prepare_kivy_environment()
    configure_window((800, 480))
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    window = EventLoop.window
    window.size = (800, 480)
    return window


@pytest.fixture
def ui(kiosk_window: Any) -> Iterator[Harness]:
    from kiosk_ui.app import KioskApp

    posted: list[object] = []
    app = KioskApp(posted.append)
    root = app.build()
    kiosk_window.size = (800, 480)
    kiosk_window.add_widget(root)
    harness = Harness(app, root, kiosk_window, posted)
    harness.frames(3)
    yield harness
    kiosk_window.remove_widget(root)
    kiosk_window.size = (800, 480)
    # kv's `app` caches the first app until it stops: let the next test's app in.
    app.dispatch("on_stop")
