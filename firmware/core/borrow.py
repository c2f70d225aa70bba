"""Borrowing and renewing: desk scans, one request at a time, answers, offline loans.

Why a queue: scans can come faster than the hub answers; each book waits its turn
as a "queued" line and only one checkout/renew request is in flight. A barcode already
on the list is never sent again, so a double scan can never make two loans. A stack of
tagged books on the RFID pad joins the same queue, book by book (firmware.core.pad_loans).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from contract.messages import CheckoutAuth, RenewAuth, Response
from drivers.events import BarcodeRead, BarcodeRejected
from firmware.core.book_security import unsecure_after_loan
from firmware.core.catalogue_keys import local_message
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep, Effect, Log, RecordTxn
from firmware.core.identify import BarcodeInfo
from firmware.core.policy import offline_limit, on_blocklist
from firmware.core.recognition import lending_refusal, owner_refusal
from firmware.core.requests import link_is_down, send, waiting_for
from firmware.core.state import Line, State, go, line_by_n, next_id, put_line, with_notice
from firmware.view import Text

ACTIVE = frozenset({"queued", "checking", "loaned", "offline_loaned"})
_MAX_SHOWN = 20


def desk_scan(state: State, event: BarcodeRead, config: CoreConfig) -> Step:
    key = not_ready_to_lend(state)
    if key is not None:
        return with_notice(state, key), (Beep("warn"),)
    state = to_borrow_screen(state)
    if state.screen != "borrow":
        return state, ()
    info = config.classify_barcode(event.text)
    code = shown_code(info, event.text)
    existing = loan_line(state, code)
    if existing is not None and existing.status in ACTIVE:
        return with_notice(state, "notice.already_scanned", (("book", existing.name),)), (Beep("warn"),)
    reader = state.reader
    assert reader is not None
    if not info.valid or info.kind != "item":
        reason = "bad_barcode" if not info.valid else "not_an_item"
        return refuse_scan(state, existing, code, reason)
    if reader.borrow_refusal is not None:  # told at the greeting: this card only returns here
        return refuse_scan(state, existing, code, reader.borrow_refusal, reader.borrow_message)
    if existing is not None:  # refused before: check it again
        state = put_line(state, replace(existing, status="queued", reason_code=None, message=None))
    else:
        state, n = next_id(state)
        state = put_line(state, Line(n, "loan", code, "queued"))
    return advance_queue(state, config)


def not_ready_to_lend(state: State) -> str | None:
    """The notice for a book offered before the reader may borrow (None: go ahead)."""
    reader = state.reader
    if reader is None or state.screen in ("attract", "summary"):
        return "notice.tap_card_first"
    if not reader.verified:
        return "notice.enter_pin_first"
    return None


def to_borrow_screen(state: State) -> State:
    """A logged-in reader offering a book on the returns screen wants to borrow it."""
    reader = state.reader
    if state.screen == "returns" and reader is not None and not reader.staff:
        return go(state, "borrow")
    return state


def shown_code(info: BarcodeInfo, text: str) -> str:
    """The item code a line shows: the normalised barcode, or what was read."""
    return (info.text or text.strip())[:_MAX_SHOWN]


def loan_line(state: State, barcode: str) -> Line | None:
    return next((x for x in state.lines if x.kind == "loan" and x.barcode == barcode), None)


def refuse_scan(
    state: State, existing: Line | None, code: str, reason: str, message: Text | None = None
) -> Step:
    """A book refused here, without asking the hub: its line says why."""
    if existing is None:
        state, n = next_id(state)
    else:
        n = existing.n
    message = message or local_message(reason)
    line = Line(n, "loan", code, "refused", reason_code=reason, message=message)
    event = "borrow.bad_barcode" if reason in ("bad_barcode", "not_an_item") else "loan.refused"
    return put_line(state, line), (Beep("error"), Log("info", event, {"reason": reason}))


def desk_rejected(state: State, event: BarcodeRejected, config: CoreConfig) -> Step:
    return with_notice(state, "notice.barcode_unreadable"), (Beep("warn"),)


def start_renewals(state: State, config: CoreConfig) -> Step:
    """Queue a renewal for each of the reader's loans not on the list yet."""
    reader = state.reader
    if reader is None or not reader.verified:
        return state, ()
    if reader.offline or link_is_down(state):
        return with_notice(state, "notice.renew_needs_hub"), (Beep("warn"),)
    listed = {x.barcode for x in state.lines if x.kind == "renew"}
    todo = [loan for loan in reader.loans if loan.item not in listed]
    if not todo:
        return with_notice(state, "notice.nothing_to_renew"), ()
    for loan in todo:
        state, n = next_id(state)
        state = put_line(state, Line(n, "renew", loan.item, "queued", title=loan.title or "", due=loan.due))
    return advance_queue(state, config)


def advance_queue(state: State, config: CoreConfig) -> Step:
    """Send the next queued book's request, unless one is in flight. With the link
    known down, decide each queued book offline at once instead of waiting."""
    effects: list[Effect] = []
    while not waiting_for(state, "checkout", "renew"):
        line = next((x for x in state.lines if x.status == "queued"), None)
        if line is None or state.reader is None:
            break
        if link_is_down(state):
            state, more = _unanswered(state, line, config)
            effects.extend(more)
            continue
        # The session token of this reader's right PIN: the hub asks nothing of a library
        # system for a card that did not authenticate here.
        card, lib, token = state.reader.card, config.library_id, state.reader.session_token
        if line.kind == "loan":
            request = CheckoutAuth(
                op="checkout_auth", card=card, item=line.barcode, library_id=lib, session_token=token
            )
            state, effect = send(state, "checkout", request, line.barcode, line.n)
        else:
            request = RenewAuth(op="renew_auth", card=card, item=line.barcode, library_id=lib, session_token=token)
            state, effect = send(state, "renew", request, line.barcode, line.n)
        state = put_line(state, replace(line, status="checking"))
        effects.append(effect)
    return state, tuple(effects)


def item_answered(state: State, line_n: int, response: Response | None, config: CoreConfig) -> Step:
    """A checkout/renew answer (None: timed out) for the line `line_n`."""
    line = line_by_n(state, line_n)
    if line is None or state.reader is None:
        return advance_queue(state, config)
    if response is None:
        state, effects = _unanswered(state, line, config)
    elif not response.ok:
        state, effects = _refuse(state, line, "hub_error", None)
    elif not response.allowed:
        # The hub names the book even when it refuses it: keep the title, so a reader
        # with several books on the desk sees which one was refused.
        line = replace(line, title=response.title or line.title)
        state, effects = _refuse(state, line, response.reason_code or "refused", _text(response))
    else:
        state, effects = _allowed(state, line, response, config)
    state, more = advance_queue(state, config)
    return state, effects + more


def _text(response: Response) -> Text | None:
    return Text(response.message.zh, response.message.en) if response.message else None


def _refuse(state: State, line: Line, reason: str, message: Text | None) -> Step:
    message = message or local_message(reason)
    line = replace(line, status="refused", reason_code=reason, message=message)
    return put_line(state, line), (Beep("error"), Log("info", f"{line.kind}.refused", {"reason": reason}))


def _allowed(state: State, line: Line, response: Response, config: CoreConfig) -> Step:
    if state.service.journal_failed:
        return _refuse(state, line, "out_of_service", None)
    assert state.reader is not None
    kind = "loan" if line.kind == "loan" else "renew"
    record = RecordTxn(
        kind, line.barcode, state.reader.card, response.due, None, "online", state.reader.session_token
    )
    status = "loaned" if kind == "loan" else "renewed"
    title = response.title or line.title
    line = replace(line, status=status, due=response.due, title=title, mode="online")
    state = put_line(state, line)
    if kind == "renew":
        return state, (record, Beep("ok"))
    if kind == "loan":
        left = response.items_left
        if left is None and state.reader.items_left is not None:
            left = state.reader.items_left - 1
        state = replace(state, reader=replace(state.reader, items_left=left))
    return state, (record, *unsecure_after_loan(config, line), Beep("ok"))


def _unanswered(state: State, line: Line, config: CoreConfig) -> Step:
    """No answer from the hub: renewals fail, loans follow the offline policy."""
    state = replace(state, hub_answering=False)
    if line.kind == "renew":
        return _refuse(state, line, "hub_unreachable", None)
    return lend_offline(state, line, config)


def lend_offline(state: State, line: Line, config: CoreConfig) -> Step:
    """Offline loan: allowed by config, card not on the cached blocklist, within the
    per-session offline limit (and the reader's own limit when the hub told us)."""
    reader = state.reader
    assert reader is not None
    if not config.offline_loans_allowed or on_blocklist(state, reader, config) or reader.staff:
        return _refuse(state, line, "offline_not_allowed", None)
    refusal = lending_refusal(config, reader.card.scheme) or owner_refusal(config, line.barcode)
    if refusal is not None:  # the hub would refuse it: no loan it will turn into an exception
        return _refuse(state, line, refusal, None)
    if reader.items_left is not None and reader.items_left <= 0:
        return _refuse(state, line, "limit_reached", None)
    if state.offline_loans >= offline_limit(state, config):
        return _refuse(state, line, "limit_reached_offline", None)
    if state.service.journal_failed:
        return _refuse(state, line, "out_of_service", None)
    due = _offline_due(state, config)
    record = RecordTxn("loan", line.barcode, reader.card, due, None, "offline")
    left = reader.items_left - 1 if reader.items_left is not None else None
    state = replace(
        state,
        offline_loans=state.offline_loans + 1,
        reader=replace(reader, items_left=left),
    )
    line = replace(line, status="offline_loaned", due=due, mode="offline")
    state = put_line(state, line)
    unsecure = unsecure_after_loan(config, line)
    return state, (record, *unsecure, Beep("ok"), Log("info", "loan.offline", {"item": line.barcode}))


def _offline_due(state: State, config: CoreConfig) -> datetime | None:
    """Due date for an offline loan: wall-clock time + offline_loan_days (None when the
    shell never told us the time; the hub then sets the due date on commit)."""
    if state.wall is None:
        return None
    return state.wall + timedelta(days=config.offline_loan_days)
