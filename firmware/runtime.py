"""The imperative shell around the pure core: one event queue in, effects out.

Devices, the hub link, the UI and a heartbeat post events into one queue; a single
thread takes them one at a time, steps the core, runs its effects in order and then
publishes the rendered view. The order is the durability promise: a RecordTxn is in
the fsync'd journal before the view that tells the reader is shown; if the write
fails, the core hears JournalFailed in the same step and the view says out of service.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from contract import messages
from contract.settings import alliance_timezone
from firmware.core.config import CoreConfig
from firmware.core.effects import (
    Beep,
    CallStaff,
    CommandResult,
    Effect,
    Led,
    Log,
    PrintReceipt,
    PublishState,
    RecordTxn,
    RepeatPrompt,
    RunSelfTest,
    SecureItem,
    SendRequest,
    SetDiverter,
    SetVoice,
    UnsecureItem,
)
from firmware.core.events import JournalFailed, SecurityFailed, SelfTestDone, Tick
from firmware.core.machine import initial_state, render, step
from firmware.devices import DeviceSet, summarise
from firmware.journal import Journal, JournalError
from firmware.txn_ids import TxnIdFactory
from firmware.view import KioskView

log = logging.getLogger("firmware.runtime")
TICK_S = 0.25
_LED_STATUS = {"idle": "ok", "ok": "ok", "busy": "busy", "fault": "fault", "offline": "busy"}
_BEEP = {"ok": "ok", "error": "error", "warn": "attention"}


class Voice(Protocol):
    """What the shell needs of the voice (firmware.speaker.Speaker): both return at once."""

    def repeat(self) -> None: ...
    def configure(self, enabled: bool, volume: int) -> None: ...


class Link(Protocol):
    """What the shell needs of the hub link (firmware.hub_link.HubLink). `request` must
    end in exactly one HubAnswered or HubTimedOut event: the core does not time requests
    out itself."""

    def request(self, corr_id: str, request_model: object) -> None: ...
    def notify_new_txn(self) -> None: ...
    def publish_state(self, state: str) -> None: ...
    def publish_command_result(self, result: messages.CommandResult) -> None: ...


@dataclass
class KioskRuntime:
    core_config: CoreConfig
    devices: DeviceSet
    journal: Journal
    link: Link | None = None
    receipt_printer: Callable[[tuple[str, ...]], None] | None = None
    voice: Voice | None = None  # spoken prompts; it hears views through on_view
    clock: Callable[[], float] = time.monotonic
    # Local time for due dates; the builder passes the configured zone (kiosk.utc_offset_hours).
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(alliance_timezone()))
    events: queue.Queue[object] = field(default_factory=queue.Queue)
    # The core thread's heartbeat (firmware.heartbeats): called once per event, and the
    # tick thread posts an event every TICK_S, so a stuck handler or a dead tick shows.
    beat: Callable[[], None] = field(default=lambda: None)

    def __post_init__(self) -> None:
        self.state = initial_state(self.core_config)
        self.view: KioskView = render(self.state, self.core_config)
        self.txn_ids = TxnIdFactory(self.core_config.kiosk_id, self.journal.last_txn_id())
        self._view_listeners: list[Callable[[KioskView], None]] = []
        self._event_listeners: list[Callable[[object], None]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._journal_broken = False
        self.started_at = self.clock()

    # -- wiring -------------------------------------------------------------------------

    def post(self, event: object) -> None:
        """Thread-safe: any device, the link or the UI may call it."""
        self.events.put(event)

    def on_view(self, listener: Callable[[KioskView], None]) -> None:
        self._view_listeners.append(listener)

    def on_event(self, listener: Callable[[object], None]) -> None:
        """`listener(event)` on the core thread before the core steps with it, `state`
        still as it was (the scenario runner's control channel tells hub timeouts so)."""
        self._event_listeners.append(listener)

    def telemetry(self) -> messages.Telemetry:
        """What the hub's fleet view shows of this kiosk (no reader data)."""
        service = self.state.service
        return messages.Telemetry(
            at=self.wall(),
            journal_pending=service.journal_pending,
            journal_oldest_pending_s=service.journal_oldest_pending_s,
            backlog_draining=service.journal_pending > 0 and self.view.online,
            screen=self.view.screen,
            devices={device: code for device, code in service.faults},
            faults=list(service.recent_faults),
            uptime_s=self.clock() - self.started_at,
        )

    # -- running ------------------------------------------------------------------------

    def start(self) -> KioskRuntime:
        """Start the heartbeat and the core thread; devices and link are started by the
        caller (so tests can order things)."""
        for name, target in (("kiosk-core", self._run), ("kiosk-tick", self._tick)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.events.put(None)
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.post(Tick(self.clock(), self.wall()))

    def _run(self) -> None:
        self.post(Tick(self.clock(), self.wall()))
        while not self._stop.is_set():
            event = self.events.get()
            self.beat()
            if event is None:
                continue
            try:
                self.handle(event)
            except Exception:  # the kiosk must keep serving; the fault is logged
                log.exception("event %s could not be handled", type(event).__name__)

    def handle(self, event: object) -> None:
        """Step the core with one event, run its effects, publish the view."""
        for observe in self._event_listeners:
            observe(event)
        self.state, effects = step(self.state, event, self.core_config)
        self._run_effects(effects)
        view = render(self.state, self.core_config)
        if view != self.view:
            self.view = view
            for listener in self._view_listeners:
                listener(view)

    def _run_effects(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            try:
                self._run_effect(effect)
            except JournalError as exc:
                self._journal_broken = True
                log.error("journal failure %s: %s", exc.code, exc)
                failed = effect if isinstance(effect, RecordTxn) else None
                event = JournalFailed(
                    exc.code,
                    str(exc),
                    failed_kind=failed.kind if failed else None,
                    failed_item=failed.item if failed else None,
                )
                self.state, more = step(self.state, event, self.core_config)
                self._run_effects(tuple(e for e in more if not isinstance(e, RecordTxn)))
                return

    def _run_effect(self, effect: Effect) -> None:
        match effect:
            case RecordTxn():
                self._record(effect)
            case SendRequest(corr_id=corr_id, request=request):
                if self.link is None:
                    from firmware.core.events import HubTimedOut

                    self.post(HubTimedOut(corr_id))
                else:
                    self.link.request(corr_id, request)
            case SetDiverter(route=route):
                self.devices.outputs.set_route(route)
            case SecureItem() | UnsecureItem():
                self._switch_security(effect)
            case Led(pattern=pattern):
                self.devices.outputs.show_status(_LED_STATUS[pattern])  # type: ignore[arg-type]
            case Beep(pattern=pattern):
                self.devices.outputs.beep(_BEEP[pattern])  # type: ignore[arg-type]
            case RunSelfTest(cmd_id=cmd_id):
                threading.Thread(
                    target=self._self_test, args=(cmd_id,), name="self-test", daemon=True
                ).start()
            case CommandResult(cmd_id=cmd_id, ok=ok, detail=detail):
                if self.link is not None:
                    self.link.publish_command_result(
                        messages.CommandResult(cmd_id=cmd_id, ok=ok, detail=dict(detail))
                    )
            case PublishState(state=state):
                if self.link is not None:
                    self.link.publish_state(state)
            case PrintReceipt(lines=lines):
                if self.receipt_printer is not None:
                    self.receipt_printer(lines)
            case Log(level=level, event=name, fields=fields):
                log.log(logging.getLevelName(level.upper()), name, extra={"fields": fields})
            case RepeatPrompt():
                if self.voice is not None:
                    self.voice.repeat()
            case SetVoice(enabled=enabled, volume=volume):
                if self.voice is not None:
                    self.voice.configure(enabled, volume)
            case CallStaff(reason=reason):
                log.warning("a reader asked for staff: %s", reason)
            case _:
                log.warning("unknown effect %r", effect)

    def _switch_security(self, effect: SecureItem | UnsecureItem) -> None:
        """Run the switch here, in effect order (the order is the contract: see
        firmware.core.book_security); a fault goes back to the core as SecurityFailed,
        never swallowed. The switch's own timeout bounds the wait. A book that came as
        an RFID tag (`effect.tag`) has that tag switched, addressed by its UID; a
        barcode book goes to the EM unit."""
        on = isinstance(effect, SecureItem)
        code, detail = self._run_switch(effect, on)
        if code is None:
            return
        tag = f" tag {effect.tag.hex()}" if effect.tag is not None else ""
        log.error("security %s failed for %s%s: %s (%s)", "on" if on else "off", effect.item, tag, code, detail)
        line_n, title = (0, "") if on else (effect.line_n, effect.title)  # type: ignore[union-attr]
        self.post(SecurityFailed(effect.item, code, on, line_n, title))

    def _run_switch(self, effect: SecureItem | UnsecureItem, on: bool) -> tuple[str | None, str]:
        """(None, "") when the switch did it, else its fault code and detail."""
        tag = effect.tag
        try:
            if tag is not None:
                tags = self.devices.tag_security
                if tags is None:
                    return "security-not-fitted", "the config fits no RFID tag security"
                result = tags.secure_tag(tag) if on else tags.unsecure_tag(tag)
            else:
                switch = self.devices.security
                if switch is None:
                    return "security-not-fitted", "the config fits no security unit"
                result = switch.secure(effect.item) if on else switch.unsecure(effect.item)
        except Exception as exc:  # a driver bug must not hide the fault either
            log.exception("security switch crashed")
            return "security-io", str(exc)
        return (None, "") if result.ok else (result.code, result.detail)

    def _record(self, effect: RecordTxn) -> None:
        if self._journal_broken:
            raise JournalError("journal-io", "the journal failed earlier; nothing more is recorded")
        txn = messages.Txn(
            txn_id=self.txn_ids.next_id(),
            kiosk_id=self.core_config.kiosk_id,
            library_id=self.core_config.library_id,
            kind=effect.kind,
            card=effect.card,
            item=effect.item,
            at=self.wall(),
            mode=effect.mode,
            due=effect.due,
            route=effect.route,
            session_token=effect.session_token,
        )
        self.journal.record(txn)
        if self.link is not None:
            self.link.notify_new_txn()

    def _self_test(self, cmd_id: str | None) -> None:
        try:
            results = summarise(self.devices.self_test())
        except Exception as exc:  # a self-test must always answer
            log.exception("self-test crashed")
            from drivers.diagnostics import DiagResult

            results = [DiagResult.fault("kiosk", "selftest-crashed", str(exc))]
        self.post(SelfTestDone(tuple(results), cmd_id))
