"""Books laid on the RFID pad: a stack is lent as if each of its books had been scanned.

BooksPresented(source="desk") carries every tag on the pad now, in inventory order.
Each item on it (firmware.core.tag_stack) becomes one "loan" line, queued exactly as a
desk scan's (borrow.advance_queue: one CheckoutAuth at a time, in inventory order, the
same journal rows, the same offline policy); the line keeps its tags' UIDs, so each
tag is unsecured only after the loan's RecordTxn, and a refused book is never switched.

What a caller may rely on:
- A stack presented again (a book added or taken off) lends no book twice: an item
  already on the list, from a tag or a barcode, is left as it is, with no "already
  scanned" warning. A tag newly seen for it joins its line (and is unsecured at once
  when that loan is already journalled).
- A set with parts missing ("2 of 3 parts present") is refused with the set's words,
  with no request; it is looked at again whenever the stack changes, so laying the
  missing part down lends the whole set as one loan (the hub knows one item id), every
  part's tag unsecured.
- Other refusals (the hub's, an id that is not an item) stand when the stack changes:
  the hub is not asked again until the book's barcode is scanned.
- A tag that cannot be read or decoded: the reader is told to scan that book's barcode
  or see staff.
- A stack laid down before the reader may borrow (no card yet, PIN to come) gets the
  notice a scan would, and is lent once the reader is greeted (session.greet), if it
  was laid down at most `CoreConfig.pad_wait_s` before; an older one is not lent, and
  the reader is asked to lay the books down again (books abandoned at the attract
  screen are not lent to whoever taps next without their doing). A stack left lying
  from a session that has ended is not lent to the next reader.
- Lifting the stack cancels nothing: books being checked go on (the reader has them in
  hand and the hub may already have lent them); a tag no longer on the pad when its
  switch runs fails, and that failure reaches the reader as "please see staff",
  naming the book (book_security.security_failed).
"""

from __future__ import annotations

from dataclasses import replace

from drivers.events import BooksLifted, BooksPresented
from firmware.core.book_security import unsecure_after_loan
from firmware.core.borrow import (
    ACTIVE,
    advance_queue,
    loan_line,
    not_ready_to_lend,
    refuse_scan,
    shown_code,
    to_borrow_screen,
)
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep, Effect, Log
from firmware.core.state import Line, State, next_id, put_line, with_notice
from firmware.core.tag_stack import TaggedItem, read_stack

SET_INCOMPLETE = "set_incomplete"


def stack_presented(state: State, event: BooksPresented, config: CoreConfig) -> Step:
    state = replace(state, pad=event.tags, pad_waiting=False)
    if not event.tags:
        return state, ()
    key = not_ready_to_lend(state)
    if key is not None:
        return replace(with_notice(state, key), pad_waiting=True, pad_since=state.now), (Beep("warn"),)
    state = to_borrow_screen(state)
    if state.screen != "borrow":
        return state, ()
    return lend_pad(state, config)


def stack_lifted(state: State, event: BooksLifted, config: CoreConfig) -> Step:
    """The pad is empty: forget the stack, cancel nothing (see the module's docstring)."""
    in_flight = sum(1 for line in state.lines if line.kind == "loan" and line.status in ("queued", "checking"))
    state = replace(state, pad=(), pad_waiting=False)
    return state, (Log("info", "pad.lifted", {"still_checking": in_flight}),)


def lend_pad(state: State, config: CoreConfig) -> Step:
    """Put every item on the pad on the list (those not there yet) and start the queue."""
    state = replace(state, pad_waiting=False)
    reading = read_stack(state.pad, config.tag_data_model)
    effects: list[Effect] = []
    for item in reading.items:
        state, more = _offer(state, item, config)
        effects.extend(more)
    if reading.unreadable:
        state = with_notice(state, "notice.tag_unreadable")
        effects += [Beep("warn"), Log("info", "borrow.tag_unreadable", {"tags": reading.unreadable})]
    state, more = advance_queue(state, config)
    return state, (*effects, *more)


def _offer(state: State, item: TaggedItem, config: CoreConfig) -> Step:
    reader = state.reader
    assert reader is not None
    info = config.classify_barcode(item.item_id)
    code = shown_code(info, item.item_id)
    existing = loan_line(state, code)
    if existing is not None and existing.status in ACTIVE:
        return _more_tags(state, existing, item.tags, config)
    if existing is not None and existing.reason_code != SET_INCOMPLETE:
        return state, ()  # refused before: a barcode scan asks again, a stack change does not
    if item.incomplete is not None:
        if existing is not None:  # still incomplete: the count may have changed
            return put_line(state, replace(existing, message=item.incomplete)), ()
        return refuse_scan(state, None, code, SET_INCOMPLETE, item.incomplete)
    if not info.valid or info.kind != "item":
        reason = "bad_barcode" if not info.valid else "not_an_item"
        return refuse_scan(state, existing, code, reason)
    if reader.borrow_refusal is not None:
        return refuse_scan(state, existing, code, reader.borrow_refusal, reader.borrow_message)
    if existing is not None:  # a set now complete
        line = replace(existing, status="queued", reason_code=None, message=None, tags=item.tags)
        return put_line(state, line), ()
    state, n = next_id(state)
    return put_line(state, Line(n, "loan", code, "queued", tags=item.tags)), ()


def _more_tags(state: State, line: Line, tags: tuple[bytes, ...], config: CoreConfig) -> Step:
    """Tags seen for a book already on the list join its line; a journalled loan has
    their security switched off now (its RecordTxn came in an earlier step)."""
    new = tuple(uid for uid in tags if uid not in line.tags)
    if not new:
        return state, ()
    line = replace(line, tags=(*line.tags, *new))
    state = put_line(state, line)
    if line.status in ("loaned", "offline_loaned"):
        return state, unsecure_after_loan(config, line, new)
    return state, ()
