"""The simulator panel calls its SimControls; `python -m kiosk_ui --screenshots` writes
every screen in both languages and exits 0 (also at the larger kiosk resolutions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiosk_ui.samples import sample_views
from kiosk_ui.sim_panel import RecordingControls, SimControls

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screens"


def test_recording_controls_satisfy_the_protocol() -> None:
    assert isinstance(RecordingControls(), SimControls)


def test_every_panel_button_calls_its_control(kiosk_window: Any) -> None:
    from kivy.base import EventLoop
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.button import Button

    from kiosk_ui.sim_panel import SimPanel

    controls = RecordingControls()
    panel = SimPanel(controls, size_hint=(None, None), size=(300, 480), pos=(0, 0))
    kiosk_window.add_widget(panel)
    try:
        for _ in range(3):
            EventLoop.idle()
        buttons = [w for w in panel.walk() if isinstance(w, Button)]
        for button in buttons:
            button.dispatch("on_release")
        names = {name for name, _ in controls.calls}
        assert names == {"tap", "remove", "scan", "drop", "jam", "clear", "hub_down", "hub_up"}
        assert ("drop", "30234000001233") in controls.calls
        controls.calls.clear()
        first = buttons[0]
        touch = UnitTestTouch(*first.to_window(*first.center))
        touch.touch_down()
        touch.touch_up()
        assert controls.calls == [("tap", "0110000012345")]
    finally:
        kiosk_window.remove_widget(panel)


def run_cli(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # the headless path: SDL offscreen
    return subprocess.run(
        [sys.executable, "-m", "kiosk_ui", "--sim", "--screenshots", str(out), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def test_screenshots_command_renders_every_screen_in_both_languages(tmp_path: Path) -> None:
    done = run_cli(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    expected = sorted(f"{name}_{lang}.png" for lang in ("zh", "en") for name in sample_views())
    assert written == expected
    assert all((tmp_path / name).stat().st_size > 5000 for name in written)


@pytest.mark.parametrize("size", ["1280x800", "1920x1080"])
def test_screenshots_at_larger_kiosk_screens(size: str) -> None:
    done = run_cli(ARTIFACTS, "--size", size, "--only", "attract,pin,borrow_refusal,technician")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (ARTIFACTS / f"borrow_refusal_en_{size}.png").is_file()
