"""The simulator panel calls its SimControls; `python -m kiosk_ui --screenshots` writes
every screen in both languages and exits 0 (also at the larger kiosk resolutions)."""

from __future__ import annotations

import inspect
import os
import queue
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kiosk_ui.samples import sample_views
from kiosk_ui.sim_panel import RecordingControls, SimControls

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screens"


@contextmanager
def simulated_kiosk(broker_url: str, **overrides: object) -> Iterator[tuple[Any, queue.Queue[object]]]:
    """The real simulator controls (`KioskSimControls`) over the simulated rig, the real
    drivers on it posting into a queue, and a real demo route (a proxy to `broker_url`)."""
    from firmware.config import load_config
    from firmware.devices import build_devices
    from kiosk_tools.demo_route import DemoRoute
    from kiosk_tools.sim_controls import KioskSimControls
    from kiosk_tools.simulated import sim_rig

    config = load_config(None, dict(overrides))
    rig = sim_rig(config)
    events: queue.Queue[object] = queue.Queue()
    devices = build_devices(config, rig.transports, events.put)
    kiosk = types.SimpleNamespace(rig=rig, runtime=types.SimpleNamespace(devices=devices))
    route = DemoRoute.open(broker_url)
    try:
        devices.start()
        devices.wait_ready(5.0)
        yield KioskSimControls(kiosk, route), events  # type: ignore[arg-type]  # rig + devices is all it uses
    finally:
        devices.close()
        route.close()


def next_of(events: queue.Queue[object], kind: type, timeout: float = 5.0) -> Any:
    """The next event of `kind` (others are skipped); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            break
        if isinstance(event, kind):
            return event
    pytest.fail(f"no {kind.__name__} within {timeout} s")


def test_the_real_simulator_controls_offer_the_panels_protocol(broker: Any) -> None:
    with simulated_kiosk(broker.url) as (controls, _events):
        assert isinstance(controls, SimControls)
        for name in ("tap", "remove", "scan", "drop", "jam", "clear", "hub_down", "hub_up"):
            wanted = [p for p in inspect.signature(getattr(SimControls, name)).parameters if p != "self"]
            params = inspect.signature(getattr(controls, name)).parameters.values()
            required = [p.name for p in params if p.default is inspect.Parameter.empty]
            assert required == wanted, (name, required)


def test_every_panel_button_drives_the_simulated_kiosk(kiosk_window: Any, broker: Any) -> None:
    """The panel over the real `KioskSimControls` (not a recording stub): each button
    reaches the simulated world, as the real drivers and the demo route see it."""
    from kivy.uix.button import Button

    from drivers.events import (
        BarcodeRead,
        BookPassed,
        CardPresented,
        CardRemoved,
        ChuteCleared,
        ChuteJammed,
    )
    from kiosk_ui.sim_panel import SimPanel

    with simulated_kiosk(broker.url, **{"devices.chute.jam_after_s": 0.3}) as (controls, events):
        panel = SimPanel(controls, size_hint=(None, None), size=(300, 480), pos=(0, 0))
        kiosk_window.add_widget(panel)
        try:
            first: dict[str, Button] = {}
            for widget in panel.walk():
                if isinstance(widget, Button):
                    first.setdefault(widget.sim_call, widget)
            book = controls.demo_books()[0][1]

            def press(name: str) -> None:
                first[name].dispatch("on_release")

            press("tap")
            next_of(events, CardPresented)
            press("remove")
            next_of(events, CardRemoved)
            press("scan")
            assert next_of(events, BarcodeRead) == BarcodeRead(book, "desk")
            press("drop")
            assert next_of(events, BarcodeRead) == BarcodeRead(book, "chute")
            next_of(events, BookPassed)
            press("jam")
            assert next_of(events, ChuteJammed).beam == "entry"
            press("clear")
            next_of(events, ChuteCleared)
            press("hub_down")
            assert controls.route.state == "black hole"
            press("hub_up")
            assert controls.route.state == "up"
        finally:
            kiosk_window.remove_widget(panel)


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


def test_the_sim_panels_tap_of_the_card_on_the_reader_is_a_new_tap_for_the_driver(broker: Any) -> None:
    """The panel's "tap" with the same card still lying there used to swap it within one
    poll, so the reader saw nothing: the card reader (real driver, emulated chip) now
    reports it gone and then presented again. A jammed chute's drop changes nothing."""
    from drivers.events import BarcodeRead, CardPresented, CardRemoved

    with simulated_kiosk(broker.url) as (controls, events):

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
        assert controls.kiosk.rig.chute.jammed
        # The marker: after clearing, another book through the same chute scanner. Its
        # read comes first: the refused book was never read.
        controls.clear()
        controls.drop("30101000000017")
        reads = []
        while not reads or reads[-1] != BarcodeRead("30101000000017", "chute"):
            event = events.get(timeout=5)
            if isinstance(event, BarcodeRead):
                reads.append(event)
        assert reads == [BarcodeRead("30101000000017", "chute")]
