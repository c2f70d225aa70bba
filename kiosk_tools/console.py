"""A simulator console for a kiosk without a screen (`make run` on a headless machine):
type scenario verbs (`tap`, `pin`, `scan`, `drop`, `press`, `jam`, `clear`, `remove`,
`hub down`, `hub up`) and see what a reader would be shown."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from firmware.assembly import Kiosk
from firmware.view import KioskView
from kiosk_tools.control import StdioControl
from kiosk_tools.sim_controls import KioskSimControls

HELP = """Type a step, e.g.:
  tap 0110000012341      (a demo joint card; `python -m hub demo` lists more)
  pin 123456
  scan 30002000000018
  drop 30102000000016
  press finish | press lang | press help | press cancel
  jam / clear / remove / hub down / hub up / quit
A jammed chute takes no book ('drop' is refused until 'clear'); tapping the card
already on the reader lifts it and taps it again."""


def describe(view: KioskView) -> str:
    """One screenful in a few lines of text."""
    parts = [f"[{view.screen}]", "online" if view.online else "OFFLINE"]
    if view.reader_name:
        parts.append(f"reader {view.reader_name}")
    if view.notice:
        parts.append(view.notice)
    if view.hub_message:
        parts.append(view.hub_message.in_language(view.language))
    lines = [" ".join(parts)]
    for item in view.items:
        detail = item.due or item.reason_code or item.route or ""
        if item.route_library:
            detail += f" → {item.route_library}"
        lines.append(f"    {item.barcode} {item.title} — {item.status} {detail}".rstrip())
    return "\n".join(lines)


class SimConsole:
    def __init__(self, kiosk: Kiosk, out: TextIO = sys.stdout) -> None:
        self.kiosk = kiosk
        self.out = out
        self.controls = KioskSimControls(kiosk)
        # Device steps and touches are played exactly as a scenario's are.
        self.player = StdioControl(kiosk, stdin=sys.stdin, stdout=out)

    def run(self, stop: threading.Event) -> None:
        self.out.write(HELP + "\n")
        self.kiosk.runtime.on_view(lambda view: self.out.write(describe(view) + "\n"))
        self.out.write(describe(self.kiosk.runtime.view) + "\n> ")
        self.out.flush()
        for raw in sys.stdin:
            line = raw.strip()
            if stop.is_set() or line in ("quit", "exit"):
                return
            if line == "hub down":
                self.controls.hub_down()
            elif line == "hub up":
                self.controls.hub_up()
            elif line:
                error = self.player.play_line(line)
                if error:
                    self.out.write(f"! {error}\n")
            self.out.write("> ")
            self.out.flush()
