"""A reader's session: card tap, lookup, PIN, greeting, finish/summary, logout, help.

Policies worth knowing:
- A card identifies, the hub's PIN check authenticates. While the hub cannot be
  reached no PIN can be checked: the offline policy admits a reader card by card alone
  (not on the cached blocklist, limited items, loans marked offline and reconciled by
  the hub later). Staff cards are never admitted offline.
- Lifting the card off the reader does not end a borrow session (people put the card
  down to handle books); finish, cancel or inactivity does.
- The hub's session token (from the right PIN's answer, or the lookup's for a scheme
  without PINs) lives in the session's Reader: online loans and renewals carry it, and
  a new tap starts without one.
"""

from __future__ import annotations

from dataclasses import replace

from contract.messages import CardRef, PinCheck, ReaderLookup, Response
from contract.screens import PinEntered
from drivers.events import CardPresented, CardRemoved, MultipleCards
from firmware.core import pad_loans
from firmware.core.availability import shows_out_of_service
from firmware.core.catalogue_keys import CARD_STATE_REASONS, local_message
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep, CallStaff, Effect, Log, PrintReceipt
from firmware.core.identify import card_number_from_data, mask
from firmware.core.policy import offline_limit, on_blocklist
from firmware.core.receipt import receipt_lines
from firmware.core.recognition import lending_refusal
from firmware.core.requests import drop_session_requests, link_is_down, send, waiting_for
from firmware.core.state import Reader, State, clear_notice, go, with_notice
from firmware.view import Text

_PIN_DIGITS = frozenset("0123456789")


# ---- card tap and lookup ----


def card_presented(state: State, event: CardPresented, config: CoreConfig) -> Step:
    state = replace(state, card_uid=event.uid, card_left_since=None, card_left_warned=False)
    if waiting_for(state, "lookup", "pin"):
        return state, ()
    if state.service.selftest_running:
        # The self-test's own card (laid on an empty reader to test a read): not a tap.
        return state, (Log("info", "card.during_selftest", {}),)
    number = card_number_from_data(event.data)
    if number is None:
        return _refuse_tap(state, "notice.card_unreadable", "card.unreadable", {})
    scheme = config.identify_scheme(number)
    if scheme is None:
        return _refuse_tap(state, "notice.card_not_library", "card.not_library", {})
    reader = state.reader
    if reader is not None and state.screen != "summary":
        if reader.card.number == number:
            return state, ()  # the same card again: the session simply goes on
        return with_notice(state, "notice.finish_first"), (Beep("warn"),)
    return start_lookup(state, CardRef(scheme=scheme, number=number), config)


def _refuse_tap(state: State, key: str, event: str, fields: dict[str, object]) -> Step:
    return with_notice(state, key), (Beep("error"), Log("info", event, fields))


def start_lookup(state: State, card: CardRef, config: CoreConfig) -> Step:
    """A new session: forget the last one, ask the hub who this is."""
    state = replace(end_session(state, config), card_left_since=None)
    reader = Reader(
        card=card,
        card_hash=config.card_hash(card.scheme, card.number),
        staff=card.scheme == config.staff_scheme,
    )
    state = replace(state, reader=reader, session=state.session + 1)
    log = Log("info", "card.tap", {"scheme": card.scheme, "card": mask(card.number)})
    if link_is_down(state):
        state, effects = lookup_unanswered(state, config)
        return state, (log, *effects)
    request = ReaderLookup(op="reader_lookup", card=card, library_id=config.library_id)
    state, send_effect = send(state, "lookup", request)
    return state, (log, send_effect)


def lookup_answered(state: State, response: Response, config: CoreConfig) -> Step:
    reader = state.reader
    if reader is None:
        return state, ()
    if not response.ok:
        state = end_session(state, config)
        return _refuse_tap(state, "notice.try_again", "card.lookup_error", {"error": response.error})
    if response.state != "valid":
        return refuse_card(state, response, config)
    if shows_out_of_service(state) and not reader.staff:
        return end_session(state, config), ()
    reader = replace(
        reader,
        card=CardRef(scheme=response.scheme or reader.card.scheme, number=reader.card.number),
        masked_name=response.masked_name,
        loans=tuple(response.loans or ()),
        loans_known=response.loans is not None,
        items_left=response.items_left,
        holds=tuple(response.holds or ()),
        due_soon=tuple(response.due_soon or ()),
        pin_required=bool(response.pin_required) or reader.staff,
        session_token=response.session_token,  # given only when the tap authenticates
    )
    state = replace(state, reader=_returns_only(reader, response))
    if reader.pin_required:
        return go(state, "pin"), ()
    return greet(state, config)


def refuse_card(state: State, response: Response, config: CoreConfig) -> Step:
    card_state = response.state or "unknown"
    reason = CARD_STATE_REASONS.get(card_state, "card_unknown")
    message = _text(response) or local_message(reason)
    state = end_session(state, config)
    # The screen shows one message: the hub's (or our own) words for why, e.g.
    # "reported lost", in place of the generic line (kiosk_ui.present.notice_text).
    state = with_notice(state, "notice.card_refused", (("state", card_state),), message)
    return state, (Beep("error"), Log("info", "card.refused", {"state": card_state}))


def _text(response: Response) -> Text | None:
    return Text(response.message.zh, response.message.en) if response.message else None


def _returns_only(reader: Reader, response: Response) -> Reader:
    """A valid card the hub says may not borrow here (e.g. a university public card at
    the Capital Library) is greeted as returns-only, with the hub's words."""
    if response.allowed is not False or reader.staff:
        return reader
    reason = response.reason_code or "scheme_not_accepted"
    return replace(reader, borrow_refusal=reason, borrow_message=_text(response) or local_message(reason))


def greet(state: State, config: CoreConfig) -> Step:
    """The reader is in: borrow list (or the technician screen for staff)."""
    assert state.reader is not None
    reader = replace(state.reader, verified=True)
    state = replace(state, reader=reader, pin_attempts_left=None)
    state = go(state, "technician" if reader.staff else "borrow")
    fields = {"scheme": reader.card.scheme, "card": mask(reader.card.number), "offline": reader.offline}
    effects: tuple[Effect, ...] = (Beep("ok"), Log("info", "session.start", fields))
    if state.pad_waiting and state.screen == "borrow":  # books laid down before the card
        if state.now - state.pad_since <= config.pad_wait_s:
            state, more = pad_loans.lend_pad(state, config)
            effects += more
        else:
            state = with_notice(replace(state, pad_waiting=False), "notice.pad_stack_stale")
            effects += (Log("info", "pad.stale_stack", {"waited_s": round(state.now - state.pad_since)}),)
    return state, effects


def lookup_unanswered(state: State, config: CoreConfig) -> Step:
    """The hub did not answer the lookup or the PIN check: apply the offline policy."""
    reader = state.reader
    if reader is None:
        return state, ()
    if reader.staff:
        state = end_session(state, config)
        return _refuse_tap(state, "notice.staff_needs_hub", "card.staff_offline", {})
    if not config.offline_loans_allowed or on_blocklist(state, reader, config):
        state = end_session(state, config)
        return _refuse_tap(state, "notice.offline_no_loans", "card.offline_refused", {})
    if shows_out_of_service(state):
        return end_session(state, config), ()
    reader = replace(reader, offline=True, masked_name=None, loans=(), loans_known=False)
    refusal = lending_refusal(config, reader.card.scheme)
    if refusal is not None:  # the alliance's scheme rules, as the hub would apply them
        reader = replace(reader, borrow_refusal=refusal, borrow_message=local_message(refusal))
    state, effects = greet(replace(state, reader=reader), config)
    if refusal is not None:
        return with_notice(state, "notice.offline_returns_only"), effects
    limit = str(offline_limit(state, config))
    return with_notice(state, "notice.offline_reader", (("max_items", limit),)), effects


# ---- PIN ----


def pin_entered(state: State, event: PinEntered, config: CoreConfig) -> Step:
    reader = state.reader
    if state.screen != "pin" or reader is None or waiting_for(state, "pin"):
        return state, ()
    digits = event.digits
    if not 4 <= len(digits) <= 8 or not set(digits) <= _PIN_DIGITS:
        return with_notice(state, "notice.pin_format"), (Beep("error"),)
    if link_is_down(state):
        return lookup_unanswered(state, config)
    request = PinCheck(op="pin_check", card=reader.card, pin=digits)
    state, effect = send(state, "pin", request)
    return state, (effect,)


def pin_answered(state: State, response: Response, config: CoreConfig) -> Step:
    if state.reader is None:
        return state, ()
    if not response.ok:
        return with_notice(state, "notice.try_again"), (Beep("error"),)
    if response.pin_ok:
        return greet(_authenticated(state, response), config)
    locked = response.locked_until is not None or response.attempts_left == 0
    if locked:
        state = end_session(state, config)
        # the hub's words say for how long, or that only the service desk can unlock it
        state = with_notice(state, "notice.pin_locked", (), _text(response))
        return state, (Beep("error"), Log("info", "pin.locked", {}))
    # The attempts left are shown once, by the PIN screen itself (KioskView.pin_attempts_left).
    state = replace(state, pin_attempts_left=response.attempts_left)
    return with_notice(state, "notice.pin_wrong"), (Beep("error"),)


def _authenticated(state: State, response: Response) -> State:
    """Keep what a right PIN brings: the session token, who the reader is (masked name)
    and the loans with their titles and the allowance, their holds and the loans due
    soon (the hub's lookup before the PIN says none of them for a scheme with PINs)."""
    reader = state.reader
    assert reader is not None
    reader = replace(
        reader,
        session_token=response.session_token,
        masked_name=response.masked_name if response.masked_name is not None else reader.masked_name,
        loans=tuple(response.loans) if response.loans is not None else reader.loans,
        loans_known=reader.loans_known or response.loans is not None,
        items_left=response.items_left if response.items_left is not None else reader.items_left,
        holds=tuple(response.holds) if response.holds is not None else reader.holds,
        due_soon=tuple(response.due_soon) if response.due_soon is not None else reader.due_soon,
    )
    return replace(state, reader=_returns_only(reader, response))


# ---- card removed, multiple cards ----


def card_removed(state: State, event: CardRemoved, config: CoreConfig) -> Step:
    state = replace(state, card_uid=None, card_left_since=None, card_left_warned=False)
    if state.notice == "notice.take_your_card":
        state = clear_notice(state)
    if state.screen == "summary":
        return end_session(state, config), ()
    return state, ()


def multiple_cards(state: State, event: MultipleCards, config: CoreConfig) -> Step:
    return with_notice(state, "notice.one_card_at_a_time"), (Beep("warn"),)


# ---- finish, summary, logout ----


def finish(state: State, config: CoreConfig) -> Step:
    """The reader is done: summary with receipt (printed when anything happened)."""
    reader = state.reader
    if reader is None:
        return end_session(state, config), ()
    if waiting_for(state, "checkout", "renew") or any(
        line.status == "queued" for line in state.lines
    ):
        return with_notice(state, "notice.please_wait"), ()
    lines = receipt_lines(state, config)
    state = replace(state, receipt=lines)
    state = _card_may_be_left(go(clear_notice(state), "summary"))
    done = sum(1 for line in state.lines if line.status != "refused")
    effects: list[Effect] = [Log("info", "session.finish", {"items": done})]
    if done:
        effects.append(PrintReceipt(lines))
    return state, tuple(effects)


def _card_may_be_left(state: State) -> State:
    if state.card_uid is not None and state.card_left_since is None:
        return replace(state, card_left_since=state.now, card_left_warned=False)
    return state


def end_session(state: State, config: CoreConfig) -> State:
    """Back to attract: forget the reader, the list and the session's requests.
    Books still in the chute stay tracked: they are recorded when they arrive."""
    state = _card_may_be_left(state) if state.reader is not None else state
    state = drop_session_requests(state)
    keep = {book.line_n for book in state.chute}
    state = replace(
        state,
        reader=None,
        lines=tuple(line for line in state.lines if line.n in keep),
        offline_loans=0,
        pin_attempts_left=None,
        receipt=(),
        help_return_to=None,
        language=config.default_language if state.reader is not None else state.language,
    )
    return go(state, "attract")


def auto_logout(state: State, config: CoreConfig) -> Step:
    had_reader = state.reader is not None
    language = state.language
    state = end_session(state, config)
    if had_reader:
        # Told in the language the reader chose; the default returns with the notice's end.
        default = state.language
        state = with_notice(replace(state, language=language), "notice.logged_out")
        if language != default:
            state = replace(state, language_after_notice=default)
    return state, (Log("info", "session.auto_logout", {"reader": had_reader}),)


# ---- help, language ----


def open_help(state: State) -> Step:
    if state.screen in ("help", "technician"):
        return state, ()
    state = replace(state, help_return_to=state.screen)
    state = with_notice(go(state, "help"), "notice.staff_called")
    return state, (CallStaff("help"), Log("info", "help.requested", {"screen": state.help_return_to}))


def close_help(state: State) -> Step:
    back = state.help_return_to or "attract"
    return replace(go(state, back), help_return_to=None), ()


def toggle_language(state: State, config: CoreConfig) -> Step:
    """Switch language; a receipt on screen is written again in the new language."""
    state = replace(state, language="en" if state.language == "zh" else "zh", language_after_notice=None)
    if state.screen == "summary" and state.reader is not None:
        state = replace(state, receipt=receipt_lines(state, config))
    return state, ()
