"""The kiosk's control channel for scenario runs: JSON lines on stdin/stdout.

A scenario runner plays a script against a kiosk in a child process, so that it can
kill it hard (`power cut`) and restart it on the same journal. The child plays the
steps that happen at the kiosk (cards, books, touches) on its simulated hardware and
reports what the reader is shown; the runner judges the `expect`s.

runner → kiosk: {"n": 1, "op": "step", "line": "scan 3010..."} | {"n": 2, "op": "rows",
"item": "3010..."} | {"n": 3, "op": "secured", "item": "3010...", "part": null} |
{"op": "quit"}; kiosk → runner: {"type": "ready"}, {"type": "view", "view": {...}},
{"type": "done"|"error", "n": ...}, {"type": "rows", "n": ..., "rows": [...]},
{"type": "secured", "n": ..., "tags": [{"tag": "3010...:1/3", "secured": true}, ...]}
(each tag of the book the script placed or dropped, as the rig reads its security),
and {"type": "hub_timeout", "op": "lookup"|"pin"|"checkout"|..., "link": "up"|"down"|"unknown"}
whenever a request to the hub ended unanswered (`link`: the kiosk's broker connection
then), so a runner can say that no hub answered when an `expect` fails.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from typing import Any, TextIO

from contract.screens import PinEntered, Press
from firmware.assembly import Kiosk
from firmware.config import RfidSection
from firmware.core.events import HubTimedOut
from firmware.journal import JournalRow
from firmware.view import KioskView
from hal_sim.cards import library_card
from hal_sim.device_steps import DeviceStepRunner, LibraryTagFactory
from hal_sim.scenario import parse_scenario
from hal_sim.scenario_steps import (
    Pin,
    ScenarioError,
    Step,
    TagSpec,
)
from hal_sim.scenario_steps import Press as PressStep
from kiosk_tools.sim_controls import wait_until_reader_sees_no_card


def view_to_json(view: KioskView) -> dict[str, Any]:
    return dataclasses.asdict(view)


class StdioControl:
    """Serves one kiosk over a pair of text streams until `quit` or end of input."""

    def __init__(
        self,
        kiosk: Kiosk,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        *,
        rfid: RfidSection | None = None,
    ):
        """`rfid`: the library's tag convention ([rfid]), which new tags are written in."""
        rig = kiosk.rig
        if rig is None:
            raise ValueError("the control channel drives simulated hardware only")
        self.kiosk = kiosk
        self._in = stdin
        self._out = stdout
        self._lock = threading.Lock()
        self._steps = DeviceStepRunner(
            card_field=rig.chip.field,  # type: ignore[attr-defined]
            library_card=library_card,
            desk_scanner=rig.desk,  # type: ignore[attr-defined]
            chute_scanner=rig.chute_scanner,  # type: ignore[attr-defined]
            chute=rig.chute,  # type: ignore[attr-defined]
            # the pad and the chute's tag reader, when the config fits them (rig.pad)
            pad=rig if getattr(rig, "pad", None) is not None else None,
            tag_chute=rig if getattr(rig, "drop_tag", None) is not None else None,
            library_tag=_tag_maker(rfid or RfidSection()),
            other=self._kiosk_step,
            card_lifted=lambda: wait_until_reader_sees_no_card(kiosk),
        )

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._out.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
            self._out.flush()

    def serve(self) -> None:
        self.kiosk.runtime.on_view(lambda view: self.send({"type": "view", "view": view_to_json(view)}))
        self.kiosk.runtime.on_event(self._tell_hub_timeouts)
        self.send({"type": "view", "view": view_to_json(self.kiosk.runtime.view)})
        self.send({"type": "ready"})
        for raw in self._in:
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                continue
            op = message.get("op")
            if op == "quit":
                return
            n = message.get("n")
            try:
                if op == "step":
                    error = self.play_line(message["line"])
                    self.send({"type": "error", "n": n, "message": error} if error else {"type": "done", "n": n})
                elif op == "rows":
                    rows = self.kiosk.journal.rows_for_item(message["item"])
                    self.send({"type": "rows", "n": n, "rows": [_row_json(r) for r in rows]})
                elif op == "secured":
                    tags = self._steps.secured(message["item"], message.get("part"))
                    self.send({"type": "secured", "n": n,
                               "tags": [{"tag": name, "secured": on} for name, on in tags]})
                else:
                    self.send({"type": "error", "n": n, "message": f"unknown op {op!r}"})
            except (ScenarioError, LookupError, OSError, ValueError) as exc:
                message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
                self.send({"type": "error", "n": n, "message": message})

    def _tell_hub_timeouts(self, event: object) -> None:
        if not isinstance(event, HubTimedOut):
            return
        state = self.kiosk.runtime.state
        pending = next((p for p in state.pending if p.corr_id == event.corr_id), None)
        if pending is not None:  # else it was answered or ended already: nothing timed out
            self.send({"type": "hub_timeout", "op": pending.purpose, "link": state.broker_link})

    def play_line(self, line: str) -> str | None:
        """Play one step of script text; the error in words, or None. Without the
        "line 1: " of the one-line text: the runner names the script's own line."""
        try:
            for step in parse_scenario(line):
                self._steps.run_step(step)
        except ScenarioError as exc:
            return exc.message
        return None

    def _kiosk_step(self, step: Step) -> None:
        match step:
            case Pin(digits=digits):
                self.kiosk.runtime.post(PinEntered(digits))
            case PressStep(action=action):
                self.kiosk.runtime.post(Press(action))
            case _:
                raise ScenarioError(step.line, f"'{step.verb}' is the runner's, not the kiosk's")


def _tag_maker(rfid: RfidSection) -> LibraryTagFactory:
    """New tags for a script's books, written in the library's data model: in stock
    (secured as the library's convention says) on the pad, on loan (unsecured) when a
    book first appears coming back through the chute."""

    def make(spec: TagSpec, lent: bool) -> object:
        # the tag emulator, imported only when a script makes a tag
        from hal_sim.library_tags import library_tag

        return library_tag(
            spec.barcode,
            model=rfid.data_model,
            set_part=spec.part,
            set_size=spec.of,
            afi=rfid.afi_on_loan if lent else rfid.afi_in_stock,
            eas=not lent,
            unreadable=spec.unreadable,
            write_fails=spec.write_fails,
        )

    return make


def _row_json(row: JournalRow) -> dict[str, Any]:
    """What a runner needs of a journal row; never the card."""
    return {
        "seq": row.seq,
        "txn_id": row.txn.txn_id,
        "kind": row.txn.kind,
        "mode": row.txn.mode,
        "status": row.status,
    }
