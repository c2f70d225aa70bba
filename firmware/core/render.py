"""The view is derived from the state: `render(state, config) -> KioskView`.

The shell calls this after every step, after running the step's effects, so a line
shown as done has always been journalled first. What the reader is allowed (the
offline cap, the blocklist, inactivity) is decided in `firmware.core.policy`; the view
only shows it.
"""

from __future__ import annotations

import math

from firmware.core.availability import out_of_service_code, shows_out_of_service
from firmware.core.config import CoreConfig
from firmware.core.policy import SESSION_SCREENS, idle_s, offline_limit
from firmware.core.reader_notes import due_notes, hold_notes
from firmware.core.requests import waiting_for
from firmware.core.state import Line, State, work_in_progress
from firmware.view import DeviceLine, ItemLine, KioskView, TechnicianView


def render(state: State, config: CoreConfig) -> KioskView:
    screen = shown_screen(state)
    reader = state.reader
    greeted = reader is not None and reader.verified and not reader.staff
    notice, args = _notice(state, screen)
    extras = {"session_mode": "offline"} if greeted and reader.offline else {}
    returns_only = greeted and reader.borrow_refusal is not None
    return KioskView(
        screen=screen,
        language=state.language,
        online=state.hub_answering,
        busy=waiting_for(state, "lookup", "pin", "checkout", "renew"),
        reader_name=reader.masked_name if greeted else None,
        reader_loans=reader_loans(state) if greeted else None,
        items_left=items_left(state, config) if greeted and not returns_only else None,
        may_borrow=not returns_only,
        borrow_message=reader.borrow_message if returns_only else None,
        session_offline=greeted and reader.offline,
        items=tuple(item_line(line) for line in state.lines),
        pin_attempts_left=state.pin_attempts_left if state.screen == "pin" else None,
        notice=notice,
        notice_args=args,
        hub_message=state.hub_message if notice == state.notice else None,
        countdown_s=countdown_s(state, config),
        out_of_service_code=out_of_service_code(state) if screen == "out_of_service" else None,
        receipt_lines=state.receipt if screen == "summary" else (),
        library_id=config.library_id,
        kiosk_id=config.kiosk_id,
        technician=technician_view(state) if screen == "technician" else None,
        extras=extras,
        holds=hold_notes(state, config) if greeted else (),
        due_soon=due_notes(state) if greeted else (),
    )


def shown_screen(state: State) -> str:
    """The flow's screen, unless the kiosk is out of service or in maintenance: those
    cover it (the session underneath resumes when they end)."""
    if not shows_out_of_service(state):
        return state.screen
    return "maintenance" if out_of_service_code(state) == "maintenance" else "out_of_service"


def _notice(state: State, screen: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The state's notice, or a standing notice about a broken device."""
    if state.notice is not None or state.hub_message is not None:
        return state.notice, state.notice_args
    svc = state.service
    if screen == "attract" and svc.fault_of("card_reader"):
        return "notice.card_reader_down_returns_only", ()
    if screen == "borrow" and svc.fault_of("scanner"):
        return "notice.scanner_down", ()
    return None, ()


def item_line(line: Line) -> ItemLine:
    return ItemLine(
        barcode=line.barcode,
        title=line.title,
        status="checking" if line.status == "queued" else line.status,
        due=line.due.date().isoformat() if line.due is not None else None,
        reason_code=line.reason_code,
        message=line.message,
        route=line.route,
        route_library=line.route_library,
        route_library_name=line.route_library_name,
        kind=line.kind,
    )


def reader_loans(state: State) -> int | None:
    """Loans the reader had when greeted plus the ones made in this session; None when
    no answer told the kiosk the reader's loans (offline, or before a PIN)."""
    assert state.reader is not None
    if not state.reader.loans_known:
        return None
    made = sum(1 for line in state.lines if line.status in ("loaned", "offline_loaned"))
    return len(state.reader.loans) + made


def items_left(state: State, config: CoreConfig) -> int | None:
    reader = state.reader
    assert reader is not None
    if reader.offline:
        limit = offline_limit(state, config)
        left = limit - state.offline_loans
        if reader.items_left is not None:
            left = min(left, reader.items_left)
        return max(left, 0)
    return reader.items_left


def countdown_s(state: State, config: CoreConfig) -> int | None:
    """Seconds to auto-logout, shown once the reader has been idle for inactivity_warn_s."""
    if state.screen not in SESSION_SCREENS or work_in_progress(state):
        return None
    idle = idle_s(state)
    if idle < config.inactivity_warn_s:
        return None
    return max(math.ceil(config.inactivity_logout_s - idle), 0)


def technician_view(state: State) -> TechnicianView:
    svc = state.service
    devices = tuple(
        DeviceLine(r.device, r.ok, r.code, r.hint, r.detail) for r in svc.selftest
    )
    return TechnicianView(
        devices=devices,
        journal_pending=svc.journal_pending,
        journal_oldest_pending_s=svc.journal_oldest_pending_s,
        hub_link="online" if state.hub_answering else "offline",
        recent_faults=svc.recent_faults,
        maintenance=svc.maintenance,
        selftest_running=svc.selftest_running,
    )
