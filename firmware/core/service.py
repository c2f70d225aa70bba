"""Technician, maintenance, device health, journal and hub-link events.

Maintenance and out-of-service are not screens the flows go to: render derives them
from `state.service`, so the session underneath resumes when the cause goes away.
"""

from __future__ import annotations

from dataclasses import replace

from drivers.events import DeviceFault, DeviceRecovered
from firmware.core.catalogue_keys import local_message
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import (
    CallStaff,
    CommandResult,
    Log,
    PublishState,
    RunSelfTest,
    SetDiverter,
    SetVoice,
)
from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    JournalDepth,
    JournalFailed,
    LinkChanged,
    SelfTestDone,
    TxnAcked,
)
from firmware.core.state import DONE_STATUSES, State, put_line


def device_fault(state: State, event: DeviceFault, config: CoreConfig) -> Step:
    svc = state.service
    faults = (*tuple(f for f in svc.faults if f[0] != event.device), (event.device, event.code))
    hints = (*tuple(h for h in svc.fault_hints if h[0] != event.device), (event.device, event.hint))
    recent = (*svc.recent_faults, f"{event.device}:{event.code}")[-config.recent_faults_kept :]
    svc = replace(svc, faults=faults, fault_hints=hints, recent_faults=recent)
    fields = {"device": event.device, "code": event.code}
    return replace(state, service=svc), (Log("warning", "device.fault", fields),)


def device_recovered(state: State, event: DeviceRecovered, config: CoreConfig) -> Step:
    svc = state.service
    svc = replace(
        svc,
        faults=tuple(f for f in svc.faults if f[0] != event.device),
        fault_hints=tuple(h for h in svc.fault_hints if h[0] != event.device),
    )
    return replace(state, service=svc), (Log("info", "device.recovered", {"device": event.device}),)


def journal_failed(state: State, event: JournalFailed, config: CoreConfig) -> Step:
    """Stop recording anything; what the journal already holds stays there. The line
    whose row could not be written is shown as not done: the reader is told nothing the
    journal does not hold (a returned book goes to the hold bin for staff)."""
    svc = replace(state.service, journal_failed=event.code)
    fields = {"code": event.code, "detail": event.detail}
    effects: tuple = (Log("error", "journal.failed", fields), CallStaff(event.code))
    state = replace(state, service=svc)
    unkept = next(
        (
            line
            for line in reversed(state.lines)
            if line.barcode == event.failed_item
            and line.kind == event.failed_kind
            and line.status in DONE_STATUSES
        ),
        None,
    )
    if unkept is not None:
        message = local_message("out_of_service")
        refused = replace(unkept, status="refused", reason_code="out_of_service", message=message)
        state = put_line(state, refused)
        if unkept.kind == "return":
            effects = (SetDiverter("hold"), *effects)
    return state, effects


def journal_depth(state: State, event: JournalDepth, config: CoreConfig) -> Step:
    svc = replace(
        state.service,
        journal_pending=event.pending,
        journal_oldest_pending_s=event.oldest_pending_s,
    )
    return replace(state, service=svc), ()


def txn_acked(state: State, event: TxnAcked, config: CoreConfig) -> Step:
    if event.ack.result == "rejected":
        fields = {"txn_id": event.txn_id, "reason": event.ack.reason}
        return state, (Log("warning", "txn.rejected", fields),)
    return state, ()


def blocklist_updated(state: State, event: BlocklistUpdated, config: CoreConfig) -> Step:
    state = replace(
        state,
        blocked_hashes=frozenset(event.blocked_hashes),
        blocklist_salt=event.salt,
        blocklist_max_items=event.offline_max_items,
    )
    return state, (Log("info", "blocklist.updated", {"cards": len(event.blocked_hashes)}),)


def link_up(state: State, event: LinkChanged, config: CoreConfig) -> Step:
    state = replace(state, broker_link="up", hub_answering=True)
    effects: tuple = (Log("info", "link.up", {}),)
    if state.service.maintenance:
        effects += (PublishState("maintenance"),)
    return state, effects


def start_selftest(state: State, cmd_id: str | None) -> Step:
    state = replace(state, service=replace(state.service, selftest_running=True))
    return state, (RunSelfTest(cmd_id), Log("info", "selftest.start", {"remote": cmd_id is not None}))


def selftest_done(state: State, event: SelfTestDone, config: CoreConfig) -> Step:
    svc = replace(state.service, selftest=tuple(event.results), selftest_running=False)
    ok = all(r.ok for r in event.results)
    effects: tuple = (Log("info", "selftest.done", {"ok": ok}),)
    if event.cmd_id is not None:
        detail = {"devices": [r.as_json() for r in event.results]}
        effects += (CommandResult(event.cmd_id, ok, detail),)
    return replace(state, service=svc), effects


def set_maintenance(state: State, on: bool) -> Step:
    if state.service.maintenance == on:
        return state, ()
    state = replace(state, service=replace(state.service, maintenance=on))
    published = PublishState("maintenance" if on else "online")
    return state, (published, Log("info", "maintenance", {"on": on}))


VOICE_ACTIONS = ("voice_toggle", "voice_louder", "voice_quieter")
VOICE_VOLUME_STEP = 10


def adjust_voice(state: State, action: str) -> Step:
    """The technician screen's voice buttons: on/off, and volume in steps of
    VOICE_VOLUME_STEP within 0-100. Lasts until restart ([voice] in the config is the
    default a restart goes back to)."""
    svc = state.service
    enabled, volume = svc.voice_enabled, svc.voice_volume
    if action == "voice_toggle":
        enabled = not enabled
    else:
        step = VOICE_VOLUME_STEP if action == "voice_louder" else -VOICE_VOLUME_STEP
        volume = max(0, min(100, volume + step))
    state = replace(state, service=replace(svc, voice_enabled=enabled, voice_volume=volume))
    fields = {"enabled": enabled, "volume": volume}
    return state, (SetVoice(enabled, volume), Log("info", "voice.settings", fields))


def command_received(state: State, event: CommandReceived, config: CoreConfig) -> Step:
    """Hub commands. reload_config belongs to the shell: the core answers it as
    unsupported, so a shell that handles it should not pass it on."""
    if event.cmd == "selftest":
        return start_selftest(state, event.cmd_id)
    if event.cmd in ("maintenance_on", "maintenance_off"):
        state, effects = set_maintenance(state, event.cmd == "maintenance_on")
        result = CommandResult(event.cmd_id, True, {"maintenance": state.service.maintenance})
        return state, (*effects, result)
    return state, (CommandResult(event.cmd_id, False, {"error": "unsupported", "cmd": event.cmd}),)
