"""What works right now: out-of-service decisions shared by the flows and render.

Priority of causes: a failed journal (nothing may be recorded), maintenance, a jammed
chute, then a card reader fault when returns cannot take over (chute also down).
"""

from __future__ import annotations

from firmware.core.state import State

CHUTE_DEVICES = ("chute", "chute_scanner")


def chute_usable(state: State) -> bool:
    svc = state.service
    return not svc.chute_jammed and all(svc.fault_of(d) is None for d in CHUTE_DEVICES)


def out_of_service_code(state: State) -> str | None:
    """The code shown on the out_of_service screen, or None when the kiosk serves."""
    svc = state.service
    if svc.journal_failed:
        return svc.journal_failed
    if svc.maintenance:
        return "maintenance"
    if svc.chute_jammed:
        return "chute-jammed"
    reader_fault = svc.fault_of("card_reader")
    if reader_fault and not chute_usable(state):
        return reader_fault
    return None


def technician_present(state: State) -> bool:
    """A staff card is being handled: out_of_service must not hide the PIN pad or the
    technician screen (that is how the technician gets in to fix things)."""
    return state.reader is not None and state.reader.staff and state.screen in ("pin", "technician")


def shows_out_of_service(state: State) -> bool:
    return out_of_service_code(state) is not None and not technician_present(state)


def returns_open(state: State) -> bool:
    """The chute takes books on any screen except out of service."""
    return not shows_out_of_service(state) and chute_usable(state)
