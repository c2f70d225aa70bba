"""The demo's `hub down` / `hub up` (simulator console and panel) cut the kiosk's route
to the broker (kiosk_tools.demo_route), never the hub link object: on the secure lab
broker, with the real kiosk and its real console, fed line by line as a person types."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.config import enrolment_overrides, load_config
from kiosk_tools.console import SimConsole
from kiosk_tools.demo_route import DemoRoute
from kiosk_tools.sim_controls import KioskSimControls
from kiosk_tools.simulated import build_simulated_kiosk
from kiosk_ui.i18n import Catalogue
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.slow  # seconds each: run first under xdist (tests/conftest.py)


@pytest.fixture
def demo(lab, broker, tmp_path: Path) -> Iterator[tuple[Any, DemoRoute]]:
    """A simulated kiosk wired as `make run` wires it: through its demo route."""
    bundle = lab.kiosk("e2e-demo-route", "capital").cert.parent
    config = load_config(
        None, {"hub.broker": broker.url, "kiosk.id": "e2e-demo-route", **enrolment_overrides(bundle)}
    )
    route = DemoRoute.open(config.hub.broker)
    kiosk = build_simulated_kiosk(route.routed(config), journal_path=tmp_path / "journal.sqlite3")
    kiosk.start()
    try:
        yield kiosk, route
    finally:
        kiosk.stop()
        route.close()


def online(kiosk: Any, want: bool, timeout_s: float) -> None:
    wait_until(
        lambda: kiosk.runtime.view.online is want and kiosk.link.connected is want,
        timeout_s,
        "the kiosk " + ("online" if want else "offline"),
    )


def test_the_kiosk_reaches_its_broker_through_the_route(demo) -> None:
    kiosk, route = demo
    online(kiosk, True, 20)
    assert route.kiosk_url == f"mqtts://127.0.0.1:{route.proxy.port}" != route.broker_url


def test_console_hub_down_and_up_cut_the_route_and_the_same_link_comes_back(demo) -> None:
    kiosk, route = demo
    online(kiosk, True, 20)
    link = kiosk.link
    read_end, write_end = os.pipe()
    typed = os.fdopen(write_end, "w", buffering=1)
    out = io.StringIO()
    console = SimConsole(kiosk, route, out=out, stdin=os.fdopen(read_end))
    stop = threading.Event()
    runner = threading.Thread(target=console.run, args=(stop,), daemon=True)
    runner.start()
    try:
        typed.write("hub down refuse\n")  # the route refuses: the kiosk knows at once
        online(kiosk, False, 5)
        assert "route to the hub: refused" in out.getvalue()
        typed.write("hub up\n")
        online(kiosk, True, 10)
        typed.write("hub down\n")  # a black hole: the link notices by itself (keepalive)
        wait_until(lambda: route.state == "black hole", 5, "the route black-holed")
        online(kiosk, False, 15)
        typed.write("hub up\n")
        online(kiosk, True, 10)
        typed.write("quit\n")
        runner.join(timeout=5)
        assert not runner.is_alive()
    finally:
        stop.set()
        typed.close()
    assert kiosk.link is link  # the link object was never stopped or replaced
    said = out.getvalue()
    assert "route to the hub: black hole" in said
    assert said.count("route to the hub: up") == 2
    # what the console showed while the route was down, in the screen's language (zh first)
    assert f"[{Catalogue.load().text('zh', 'banner.offline')}]" in said


def test_the_panels_hub_down_black_holes_the_route(demo) -> None:
    kiosk, route = demo
    online(kiosk, True, 20)
    controls = KioskSimControls(kiosk, route)
    controls.hub_down()  # the panel's button: no arguments, a black hole
    assert route.state == "black hole"
    online(kiosk, False, 15)
    controls.hub_up()
    online(kiosk, True, 10)
