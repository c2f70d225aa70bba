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


def test_the_sim_panels_tap_of_the_card_on_the_reader_is_a_new_tap_for_the_driver() -> None:
    """The panel's "tap" with the same card still lying there used to swap it within one
    poll, so the reader saw nothing: the card reader (real driver, emulated chip) now
    reports it gone and then presented again. A jammed chute's drop changes nothing."""
    import queue
    import types

    from drivers.events import BarcodeRead, CardPresented, CardRemoved, ChuteCleared
    from firmware.config import load_config
    from firmware.devices import build_devices
    from kiosk_tools.sim_controls import KioskSimControls
    from kiosk_tools.simulated import sim_rig

    config = load_config()
    rig = sim_rig(config)
    events: queue.Queue[object] = queue.Queue()
    devices = build_devices(config, rig.transports, events.put)
    kiosk = types.SimpleNamespace(rig=rig, runtime=types.SimpleNamespace(devices=devices))
    controls = KioskSimControls(kiosk, route=None)  # type: ignore[arg-type]  # taps only: no route needed
    try:
        devices.start()
        devices.wait_ready(5.0)

        def card_events(count: int) -> list[type]:
            seen: list[type] = []
            while len(seen) < count:
                event = events.get(timeout=3)
                if isinstance(event, CardPresented | CardRemoved):
                    seen.append(type(event))
            return seen

        controls.tap("0110000012345")
        assert card_events(1) == [CardPresented]
        controls.tap("0110000012345")
        assert card_events(2) == [CardRemoved, CardPresented]

        controls.jam()
        controls.drop("30234000001233")  # refused: logged, nothing read
        assert rig.chute.jammed
        time_limit = 0.5
        while True:
            try:
                event = events.get(timeout=time_limit)
            except queue.Empty:
                break
            assert not isinstance(event, BarcodeRead | ChuteCleared), event
    finally:
        devices.close()
