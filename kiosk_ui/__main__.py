"""`python -m kiosk_ui [--sim] [--screenshots DIR] [--size WxH]`.

With --screenshots: render every screen in Chinese and English at 800x480 into DIR and
exit 0. Without: a demo of the UI on the sample views (and with --sim and a display,
the simulator panel beside it; its buttons only log until hal_sim is wired in).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk_ui", description=__doc__)
    parser.add_argument("--sim", action="store_true", help="simulated devices (demo panel)")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="write PNGs and exit")
    parser.add_argument("--size", type=parse_size, default=(800, 480), help="window WxH")
    parser.add_argument("--only", default="", help="screenshots: comma-separated sample names")
    args = parser.parse_args(argv)

    from .headless import configure_window, prepare_kivy_environment

    has_display = prepare_kivy_environment()
    show_panel = args.sim and has_display and args.screenshots is None
    width, height = args.size
    configure_window((width + (300 if show_panel else 0), height))

    from contract.screens import Press
    from firmware.view import KioskView

    from .samples import sample_views

    if args.screenshots is not None:
        only = {name for name in args.only.split(",") if name}
        return _screenshots(args.screenshots, only, "" if args.size == (800, 480) else f"_{width}x{height}")

    from .app import KioskApp
    from .sim_panel import RecordingControls

    views = list(sample_views("zh").values())
    state = {"i": 0, "lang": "zh"}

    def demo_post(intent: object) -> None:
        # Demo only: "lang" flips the language, any other press shows the next sample.
        print(f"intent: {intent}", file=sys.stderr)
        from dataclasses import replace

        if intent == Press("lang"):
            state["lang"] = "en" if state["lang"] == "zh" else "zh"
        else:
            state["i"] = (state["i"] + 1) % len(views)
        app.show(replace(views[state["i"]], language=str(state["lang"])))

    def first() -> KioskView:
        return views[0]

    app = KioskApp(demo_post, first, sim_controls=RecordingControls() if show_panel else None)
    app.run()
    return 0


def _screenshots(out_dir: Path, only: set[str], suffix: str) -> int:
    from .app import KioskApp
    from .shots import shot_plan, take_screenshots_in_app

    plan = [
        (stem + suffix, view)
        for stem, view in shot_plan()
        if not only or stem.rsplit("_", 1)[0] in only
    ]
    result: dict[str, list[Path]] = {}
    app = KioskApp(lambda _intent: None)

    def done(saved: list[Path]) -> None:
        result["saved"] = saved
        app.stop()

    def on_start() -> None:
        take_screenshots_in_app(app, out_dir, plan, done)

    app.bind(on_start=lambda *_: on_start())
    app.run()
    saved = result.get("saved", [])
    for path in saved:
        print(path)
    return 0 if len(saved) == len(plan) else 1


if __name__ == "__main__":
    sys.exit(main())
