"""Runs the kiosk the way the command line asks: a scenario, a control channel for a
scenario runner, a headless simulator console, or the touchscreen."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

from firmware.config import ConfigError, KioskConfig, load_config
from firmware.journal import JournalError
from firmware.logging_setup import configure_logging

log = logging.getLogger("kiosk_tools.app")


def _load(args: argparse.Namespace) -> KioskConfig:
    overrides = {"hub.broker": args.broker, "kiosk.id": args.kiosk_id, "kiosk.library_id": args.library}
    return load_config(Path(args.config) if args.config else None, overrides)


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

        return run_script(
            Path(args.script),
            broker_url=config.hub.broker,
            kiosk_id=config.kiosk.id,
            library_id=config.kiosk.library_id,
            config_path=args.config,
        )
    journal = Path(args.journal) if getattr(args, "journal", None) else None
    try:
        if args.sim:
            from kiosk_tools.simulated import build_simulated_kiosk

            kiosk = build_simulated_kiosk(config, journal_path=journal)
        else:
            from firmware.assembly import build_kiosk

            kiosk = build_kiosk(config, journal_path=journal)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        # A journal that cannot be opened is never touched: a technician copies it off.
        log.error("journal unusable: %s", exc.code)
        print(f"the kiosk cannot start: {exc.code}: {exc.hint}", file=sys.stderr)
        return 1
    kiosk.start()
    try:
        if getattr(args, "control_stdio", False):
            from kiosk_tools.control import StdioControl

            StdioControl(kiosk).serve()
        elif args.headless:
            _run_headless(kiosk)
        else:
            from kiosk_tools.touchscreen import run_touchscreen

            run_touchscreen(kiosk)
    finally:
        kiosk.stop()
    return 0


def _run_headless(kiosk: object) -> None:
    """No screen: on the simulator, a console that takes scenario verbs from stdin and
    prints what the reader would see; otherwise run until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if kiosk.rig is not None and sys.stdin.isatty():  # type: ignore[attr-defined]
        from kiosk_tools.console import SimConsole

        SimConsole(kiosk).run(stop)  # type: ignore[arg-type]
        return
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
