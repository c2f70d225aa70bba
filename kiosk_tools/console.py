"""A simulator console for a kiosk without a screen (`make run` on a headless machine):
type scenario verbs (`tap`, `pin`, `scan`, `drop`, `press`, `jam`, `clear`, `remove`,
`hub down`, `hub down refuse`, `hub up`) and see what a reader would be shown.
`hub down` black-holes the kiosk's route to the broker (kiosk_tools.demo_route), as a
dropped 4G route does; `hub down refuse` closes it so the kiosk knows at once."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from firmware.assembly import Kiosk
from firmware.view import KioskView
from kiosk_tools.control import StdioControl
from kiosk_tools.demo_route import DemoRoute
from kiosk_tools.sim_controls import KioskSimControls

HELP = """Type a step, e.g.:
  tap 0110000012341      (a demo joint card; `python -m hub demo` lists more)
  pin 123456
  scan 30002000000018
  drop 30102000000016
  press finish | press lang | press help | press cancel
  jam / clear / remove / quit
  hub down               (the route to the hub drops every packet, as a lost 4G route;
                          the kiosk notices within a few seconds)
  hub down refuse        (the route refuses: the kiosk knows at once)
  hub up                 (the route is back: the kiosk reconnects within a second)
A jammed chute takes no book ('drop' is refused until 'clear'); tapping the card
already on the reader lifts it and taps it again."""

ROUTE_SAID = {
    "black hole": "route to the hub: black hole (nothing passes; the kiosk has to notice)",
    "refused": "route to the hub: refused (every connection closed)",
    "up": "route to the hub: up",
}


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
            name = item.route_library_name
            detail += f" → {name.in_language(view.language) if name is not None else item.route_library}"
        if item.status == "refused" and item.message is not None:
            detail += f": {item.message.in_language(view.language)}"  # why, as the reader reads it
        lines.append(f"    {item.barcode} {item.title} — {item.status} {detail}".rstrip())
    return "\n".join(lines)


class SimConsole:
    def __init__(
        self, kiosk: Kiosk, route: DemoRoute, out: TextIO = sys.stdout, stdin: TextIO = sys.stdin
    ) -> None:
        self.kiosk = kiosk
        self.out = out
        self.stdin = stdin
        self.controls = KioskSimControls(kiosk, route)
        # Device steps and touches are played exactly as a scenario's are.
        self.player = StdioControl(kiosk, stdin=stdin, stdout=out)

    def run(self, stop: threading.Event) -> None:
        self.out.write(HELP + "\n")
        self.kiosk.runtime.on_view(lambda view: self.out.write(describe(view) + "\n"))
        self.out.write(describe(self.kiosk.runtime.view) + "\n> ")
        self.out.flush()
        for raw in self.stdin:
            line = " ".join(raw.split())
            if stop.is_set() or line in ("quit", "exit"):
                return
            if line in ("hub down", "hub down refuse", "hub up"):
                if line == "hub up":
                    self.controls.hub_up()
                else:
                    self.controls.hub_down(refuse=line.endswith("refuse"))
                self.out.write(ROUTE_SAID[self.controls.route.state] + "\n")
            elif line:
                error = self.player.play_line(line)
                if error:
                    self.out.write(f"! {error}\n")
            self.out.write("> ")
            self.out.flush()
