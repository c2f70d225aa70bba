"""Runs the kiosk the way the command line asks: a scenario, a control channel for a
scenario runner, a headless simulator console, or the touchscreen."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from firmware.assembly import Kiosk
from firmware.config import ConfigError, HubSection, KioskConfig, enrolment_overrides, load_config
from firmware.journal import JournalError
from firmware.logging_setup import configure_logging
from firmware.supervision import Supervision, supervise
from kiosk_tools.demo_route import DemoRoute

log = logging.getLogger("kiosk_tools.app")
HEADLESS_BEAT_S = 1.0
UI_STALE_AFTER_S = 30.0


def _load(args: argparse.Namespace) -> KioskConfig:
    overrides = {"hub.broker": args.broker, "kiosk.id": args.kiosk_id, "kiosk.library_id": args.library}
    if args.identity:
        overrides.update(enrolment_overrides(Path(args.identity)))
    return load_config(Path(args.config) if args.config else None, overrides)


def _scenario_kiosk(args: argparse.Namespace, config: KioskConfig) -> tuple[str, str, str | None, str | None] | int:
    """(broker, kiosk id, identity, probe identity) a scenario plays with: as given, or,
    when neither the command line nor `--config` names a broker or TLS files, the lab's
    (kiosk_tools.scenario_lab); an exit status when the lab cannot be used."""
    given = (config.hub.broker, config.kiosk.id, args.identity, args.probe_identity)
    names_its_broker = args.broker is not None or args.identity is not None or config.hub.tls.cert is not None
    if names_its_broker or config.hub.broker != HubSection.model_fields["broker"].default:
        return given
    from hub.pki.broker_admin import BrokerAdminError
    from kiosk_tools.scenario_lab import lab_target

    try:
        target = lab_target(config.kiosk.library_id, args.kiosk_id)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except BrokerAdminError as exc:  # a new enrolment the broker could not be told
        print(f"the lab's broker was not told of the scenario kiosk: {exc}: is `make run` running?", file=sys.stderr)
        return 1
    if target is None:
        return given
    print(f"scenario: kiosk {target.kiosk_id} on {target.broker_url}", file=sys.stderr)
    identity = str(target.identity) if target.identity else None
    probe = str(target.probe_identity) if target.probe_identity else None
    return target.broker_url, target.kiosk_id, identity, probe


def run_kiosk(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(config.logging.level, config.logging.json_lines, config.logging.file)
    if args.script:
        if not args.sim:
            print("--script plays on simulated hardware: add --sim", file=sys.stderr)
            return 2
        from kiosk_tools.script_runner import run_script

        found = _scenario_kiosk(args, config)
        if isinstance(found, int):
            return found
        broker, kiosk_id, identity, probe = found
        return run_script(
            Path(args.script),
            broker_url=broker,
            kiosk_id=kiosk_id,
            library_id=config.kiosk.library_id,
            config_path=args.config,
            identity=identity,
            probe_identity=probe,
            request_timeout_s=config.hub.request_timeout_s,
        )
    journal = Path(args.journal) if getattr(args, "journal", None) else None
    route = _demo_route(args, config)
    try:
        if route is not None:
            config = route.routed(config)
        if args.sim:
            from kiosk_tools.simulated import build_simulated_kiosk

            kiosk = build_simulated_kiosk(config, journal_path=journal)
        else:
            from firmware.assembly import build_kiosk

            kiosk = build_kiosk(config, journal_path=journal)
    except ConfigError as exc:
        _close(route)
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        _close(route)
        # A journal that cannot be opened is never touched: a technician copies it off.
        log.error("journal unusable: %s", exc.code)
        print(f"the kiosk cannot start: {exc.code}: {exc.hint}", file=sys.stderr)
        return 1
    except BaseException:
        _close(route)
        raise
    kiosk.start()
    # systemd (Type=notify): heartbeats from every worker, READY once devices and the
    # journal are up, WATCHDOG=1 only while all of them beat. A no-op off systemd.
    supervision = supervise(kiosk)
    try:
        if getattr(args, "control_stdio", False):
            from kiosk_tools.control import StdioControl

            supervision.ready()
            StdioControl(kiosk, rfid=config.rfid).serve()
        elif not wants_window(args, config):
            supervision.ready()
            _run_headless(kiosk, supervision.register("event-loop").beat, route, keys=getattr(args, "keys", False))
        else:
            _run_touchscreen(
                kiosk, supervision, fullscreen=getattr(args, "fullscreen", False), route=route
            )
    finally:
        supervision.stop()
        kiosk.stop()
        _close(route)
    return 0


def wants_window(args: argparse.Namespace, config: KioskConfig) -> bool:
    """Whether the kiosk opens its touchscreen window: not when asked `--headless`, and
    never at a book drop ([kiosk] profile = "book_drop"), which has no screen: `make run`
    under a display and `--sim` without `--headless` run it headless too, its status
    light showing its state."""
    return not args.headless and config.kiosk.profile != "book_drop"


def _demo_route(args: argparse.Namespace, config: KioskConfig) -> DemoRoute | None:
    """The simulator's cuttable route to the broker, for the demo's `hub down` / `hub up`
    (panel or console): only where someone can press them. A scenario's child kiosk
    (`--control-stdio`) goes through its runner's own proxy instead."""
    if not args.sim or getattr(args, "control_stdio", False):
        return None
    if args.headless and not sys.stdin.isatty():
        return None  # no console, no panel: nobody to cut the route
    from kiosk_tools.demo_route import DemoRoute

    route = DemoRoute.open(config.hub.broker)
    log.info("simulator: the kiosk reaches %s through %s (hub down / hub up)", route.broker_url, route.kiosk_url)
    return route


def _close(route: DemoRoute | None) -> None:
    if route is not None:
        route.close()


def _run_touchscreen(
    kiosk: Kiosk, supervision: Supervision, *, fullscreen: bool, route: DemoRoute | None
) -> None:
    """The Kivy window; its clock beats for the UI loop (a hung UI thread stops it)."""
    from kiosk_ui.headless import prepare_kivy_environment

    prepare_kivy_environment()  # before the first Kivy import, as kiosk_ui.run_app does
    from kivy.clock import Clock

    from kiosk_tools.touchscreen import run_touchscreen

    # Kivy needs a few seconds to open its window on a Pi: a longer grace for this loop.
    ui_loop = supervision.register("event-loop", stale_after_s=UI_STALE_AFTER_S)
    Clock.schedule_interval(lambda _dt: ui_loop.beat(), 1.0)
    # systemd stops the kiosk with SIGTERM: close the window so the kiosk stops cleanly.
    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda _dt: _close_app()))
    supervision.ready()
    run_touchscreen(kiosk, fullscreen=fullscreen, route=route)


def _close_app() -> None:
    from kivy.app import App

    app = App.get_running_app()
    if app is not None:
        app.stop()


def _run_headless(
    kiosk: Kiosk, beat: Callable[[], None], route: DemoRoute | None, *, keys: bool = False
) -> None:
    """No screen: on the simulator, a console that takes scenario verbs from stdin and
    prints what the reader would see, in the screen's language (`keys`: message keys and
    codes instead); otherwise run until SIGTERM, beating once a second."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if kiosk.rig is not None and route is not None and sys.stdin.isatty():
        from kiosk_tools.console import SimConsole

        # The console blocks on the keyboard: a developer's tool, not watched.
        beat_forever = threading.Thread(target=_beat_until, args=(stop, beat), daemon=True)
        beat_forever.start()
        SimConsole(kiosk, route, keys=keys).run(stop)
        stop.set()
        return
    with contextlib.suppress(KeyboardInterrupt):
        _beat_until(stop, beat)


def _beat_until(stop: threading.Event, beat: Callable[[], None]) -> None:
    beat()
    while not stop.wait(HEADLESS_BEAT_S):
        beat()
