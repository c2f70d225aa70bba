"""The kiosk core: `step(state, event, config) -> (state, effects)`, pure.

No threads, no I/O, no clock: time comes in with Tick, ids from the state's counter.
The shell runs the effects in order (journal writes first), then shows
`render(state, config)`. Each event type has one small handler in a flow module:
session (cards, PIN, finish), borrow, returns, service (devices, technician, link),
answers (hub), timers (Tick).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from contract.ecard import looks_like_ecard
from contract.screens import PinEntered, Press
from drivers.events import (
    BarcodeRead,
    BarcodeRejected,
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksLifted,
    BooksPresented,
    BooksTooClose,
    CardPresented,
    CardRemoved,
    ChuteCleared,
    ChuteJammed,
    DeviceFault,
    DeviceRecovered,
    MultipleCards,
)
from firmware.core import (
    answers,
    book_security,
    borrow,
    ecard,
    pad_loans,
    profiles,
    returns,
    service,
    session,
    timers,
)
from firmware.core.availability import shows_out_of_service, technician_present
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Effect, Led, Log, RepeatPrompt
from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    HubAnswered,
    HubTimedOut,
    JournalDepth,
    JournalFailed,
    LinkChanged,
    SecurityFailed,
    SelfTestDone,
    Tick,
    TxnAcked,
)
from firmware.core.render import render
from firmware.core.requests import waiting_for
from firmware.core.state import State, clear_notice, go, with_notice

__all__ = ["initial_state", "render", "step"]


def initial_state(config: CoreConfig) -> State:
    state = State(language=config.default_language, large_text=config.large_text)
    voice = replace(state.service, voice_enabled=config.voice_enabled, voice_volume=config.voice_volume)
    state = replace(state, service=voice)
    return replace(state, led=led_for(state))


def step(state: State, event: object, config: CoreConfig) -> Step:
    """Consume one event. Unknown events are logged and otherwise ignored."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return state, (Log("debug", "core.unknown_event", {"type": type(event).__name__}),)
    refused = profiles.refused_here(state, event, config)
    if refused is not None:
        return refused
    if _is_input(event):
        state = replace(state, last_input_at=state.now)
        if _clears_notice(event):
            state = clear_notice(state)
        if _held_by_service(state, event):
            return state, (Log("info", "input.out_of_service", {"type": type(event).__name__}),)
    new_state, effects = handler(state, event, config)
    return _update_led(new_state, effects)


def led_for(state: State) -> str:
    if shows_out_of_service(state):
        return "fault"
    if not state.hub_answering:
        return "offline"
    if waiting_for(state, "lookup", "pin", "ecard", "checkout", "renew"):
        return "busy"
    return "idle"


def _update_led(state: State, effects: tuple[Effect, ...]) -> Step:
    led = led_for(state)
    if led == state.led:
        return state, effects
    return replace(state, led=led), (*effects, Led(led))  # type: ignore[arg-type]


_INPUTS = (
    CardPresented, BarcodeRead, BarcodeRejected, BooksPresented, Press, PinEntered, BookEntered, BookPassed,
)


def _is_input(event: object) -> bool:
    return isinstance(event, _INPUTS)


# Presses that change nothing of the session: the notice stays, and they work out of service.
_AMBIENT_ACTIONS = ("lang", "repeat", "large_text")


def _clears_notice(event: object) -> bool:
    if isinstance(event, Press):
        return event.action not in _AMBIENT_ACTIONS
    if isinstance(event, BarcodeRead | BooksPresented):
        return event.source == "desk"
    return isinstance(event, CardPresented | PinEntered)


def _held_by_service(state: State, event: object) -> bool:
    """While out of service only a staff card (and its PIN) and the language button work;
    the chute's own checks decide for chute events."""
    if not shows_out_of_service(state) or technician_present(state):
        return False
    if isinstance(event, Press):
        return event.action not in _AMBIENT_ACTIONS
    if isinstance(event, BarcodeRead | BarcodeRejected | BooksPresented):
        return event.source == "desk"
    return isinstance(event, PinEntered)


# ---- touches ----


def press(state: State, event: Press, config: CoreConfig) -> Step:
    action, screen = event.action, state.screen
    if action == "lang":
        return session.toggle_language(state, config)
    if action == "repeat":
        return state, (RepeatPrompt(),)
    if action == "large_text":
        return session.toggle_large_text(state)
    if action == "help" and screen not in ("technician", "help"):
        return session.open_help(state)
    handler = _PRESSES.get(screen)
    if handler is None:
        return state, ()
    return handler(state, action, config)


def _press_attract(state: State, action: str, config: CoreConfig) -> Step:
    if action == "return":
        return returns.open_returns(state)
    if action == "borrow":
        # A card still lying on the reader from the last visit is not seen again until
        # it leaves the field: say so instead of "tap your card" to someone whose card is there.
        key = "notice.lift_card_and_tap" if state.card_uid is not None else "notice.tap_card_first"
        return with_notice(state, key), ()
    return state, ()


def _press_pin(state: State, action: str, config: CoreConfig) -> Step:
    if action == "cancel":
        return session.end_session(state, config), ()
    return state, ()


def _press_borrow(state: State, action: str, config: CoreConfig) -> Step:
    if action in ("finish", "cancel"):
        return session.finish(state, config)
    if action == "renew":
        return borrow.start_renewals(state, config)
    if action == "return":
        return returns.open_returns(state)
    return state, ()


def _press_returns(state: State, action: str, config: CoreConfig) -> Step:
    reader = state.reader
    greeted = reader is not None and reader.verified and not reader.staff
    if action == "borrow":
        return (go(state, "borrow"), ()) if greeted else (with_notice(state, "notice.tap_card_first"), ())
    if action == "finish" and greeted:
        return session.finish(state, config)
    if action in ("finish", "cancel"):
        if greeted:
            return go(state, "borrow"), ()
        return session.end_session(state, config), ()
    return state, ()


def _press_summary(state: State, action: str, config: CoreConfig) -> Step:
    if action in ("finish", "cancel"):
        return session.end_session(state, config), ()
    return state, ()


def _press_help(state: State, action: str, config: CoreConfig) -> Step:
    if action == "cancel":
        return session.close_help(state)
    return state, ()


def _press_technician(state: State, action: str, config: CoreConfig) -> Step:
    if action == "selftest":
        return service.start_selftest(state, None)
    if action in ("maintenance_on", "maintenance_off"):
        return service.set_maintenance(state, action == "maintenance_on")
    if action in service.VOICE_ACTIONS:
        return service.adjust_voice(state, action)
    if action in ("cancel", "finish"):
        return session.end_session(state, config), (Log("info", "technician.logout", {}),)
    return state, ()


_PRESSES: dict[str, Callable[[State, str, CoreConfig], Step]] = {
    "attract": _press_attract,
    "pin": _press_pin,
    "borrow": _press_borrow,
    "returns": _press_returns,
    "summary": _press_summary,
    "help": _press_help,
    "technician": _press_technician,
}


# ---- scanner lines and RFID tags: the desk is for borrowing, the chute for returns ----


def barcode_read(state: State, event: BarcodeRead, config: CoreConfig) -> Step:
    if event.source == "chute":
        return returns.chute_scan(state, event, config)
    if looks_like_ecard(event.text):  # a phone e-card's QR code: a login, never a book
        return ecard.ecard_scanned(state, event, config)
    return borrow.desk_scan(state, event, config)


def barcode_rejected(state: State, event: BarcodeRejected, config: CoreConfig) -> Step:
    if event.source == "chute":
        return state, (Log("info", "chute.barcode_rejected", {"reason": event.reason}),)
    return borrow.desk_rejected(state, event, config)


def books_presented(state: State, event: BooksPresented, config: CoreConfig) -> Step:
    """A stack on the lending pad is lent; a tag in the chute is a return's barcode."""
    if event.source == "chute":
        return returns.chute_tags(state, event, config)
    return pad_loans.stack_presented(state, event, config)


def books_lifted(state: State, event: BooksLifted, config: CoreConfig) -> Step:
    if event.source == "chute":
        return returns.chute_field_empty(state, event, config)
    return pad_loans.stack_lifted(state, event, config)


def _link_changed(state: State, event: LinkChanged, config: CoreConfig) -> Step:
    if event.online:
        return service.link_up(state, event, config)
    return answers.link_went_down(state, event, config)


_HANDLERS: dict[type, Callable[[State, Any, CoreConfig], Step]] = {
    CardPresented: session.card_presented,
    CardRemoved: session.card_removed,
    MultipleCards: session.multiple_cards,
    PinEntered: session.pin_entered,
    Press: press,
    BarcodeRead: barcode_read,
    BarcodeRejected: barcode_rejected,
    BooksPresented: books_presented,
    BooksLifted: books_lifted,
    BookEntered: returns.book_entered,
    BookPassed: returns.book_passed,
    BookPulledBack: returns.book_pulled_back,
    BooksTooClose: returns.books_too_close,
    ChuteJammed: returns.chute_jammed,
    ChuteCleared: returns.chute_cleared,
    DeviceFault: service.device_fault,
    DeviceRecovered: service.device_recovered,
    Tick: timers.tick,
    HubAnswered: answers.hub_answered,
    HubTimedOut: answers.hub_timed_out,
    LinkChanged: _link_changed,
    TxnAcked: service.txn_acked,
    JournalFailed: service.journal_failed,
    CommandReceived: service.command_received,
    SelfTestDone: service.selftest_done,
    BlocklistUpdated: service.blocklist_updated,
    JournalDepth: service.journal_depth,
    SecurityFailed: book_security.security_failed,
}
