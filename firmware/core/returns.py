"""Returns through the chute: any time, with or without a reader, on any screen that
is not out of service.

A book is recorded once two things are known: its route (the hub's answer, or the
local rule when the hub is unreachable) and that it passed the exit beam (it is really
inside). Only then: RecordTxn, then SecureItem (its security back on), then
SetDiverter, then the "returned" line. The chute identifies a book by the chute
scanner's barcode or by its RFID tags (BooksPresented(source="chute")), the same way.
"""

from __future__ import annotations

from dataclasses import replace

from contract.messages import Response, ReturnRoute
from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksLifted,
    BooksPresented,
    BooksTooClose,
    ChuteCleared,
    ChuteJammed,
)
from firmware.core.availability import returns_open
from firmware.core.book_security import secure_before_route
from firmware.core.catalogue_keys import local_message
from firmware.core.config import CoreConfig, library_name
from firmware.core.core_types import Step
from firmware.core.effects import Beep, CallStaff, Effect, Log, RecordTxn, SetDiverter
from firmware.core.identify import local_route
from firmware.core.requests import link_is_down, send
from firmware.core.state import (
    ChuteBook,
    Line,
    State,
    drop_line,
    go,
    next_id,
    put_line,
    with_notice,
)
from firmware.core.tag_stack import read_stack
from firmware.view import Text


def _to_returns_screen(state: State) -> State:
    return go(state, "returns") if state.screen == "attract" else state


def chute_scan(state: State, event: BarcodeRead, config: CoreConfig) -> Step:
    if not returns_open(state):
        return with_notice(state, "notice.returns_paused"), (Log("info", "return.paused", {}),)
    return _book_read(state, event.text, (), config)


def chute_tags(state: State, event: BooksPresented, config: CoreConfig) -> Step:
    """The chute's RFID reader saw tags: each new item acts as the chute scanner's
    barcode would, and keeps its tags so their security goes back on before the flap
    routes it. Only tags not already in the field count (the reader posts the whole
    field again when another book arrives). A tag that says nothing usable is left to
    the exit beam: that book goes to staff as unidentified."""
    new = tuple(tag for tag in event.tags if tag.uid not in state.chute_tags)
    state = replace(state, chute_tags=frozenset(tag.uid for tag in event.tags))
    if not new:
        return state, ()
    if not returns_open(state):
        return with_notice(state, "notice.returns_paused"), (Log("info", "return.paused", {}),)
    reading = read_stack(new, config.tag_data_model)
    effects: list[Effect] = []
    if reading.unreadable:
        effects.append(Log("info", "return.tag_unreadable", {"tags": reading.unreadable}))
    for item in reading.items:
        state, more = _book_read(state, item.item_id, item.tags, config)
        effects.extend(more)
    return state, tuple(effects)


def chute_field_empty(state: State, event: BooksLifted, config: CoreConfig) -> Step:
    return replace(state, chute_tags=frozenset()), ()


def _book_read(state: State, text: str, tags: tuple[bytes, ...], config: CoreConfig) -> Step:
    """A book identified in the chute, by its barcode or its tags."""
    info = config.classify_barcode(text)
    if not info.valid or info.kind != "item":
        # Not a library item code (an ISBN, noise): when the book passes it is
        # unidentified and goes to staff.
        return state, (Log("info", "return.barcode_ignored", {"kind": info.kind}),)
    code = info.text
    same = next((book for book in state.chute if book.barcode == code), None)
    if same is not None:  # the same book read twice on its way in
        more = tuple(uid for uid in tags if uid not in same.tags)
        return (_replace_book(state, replace(same, tags=(*same.tags, *more))) if more else state), ()
    state, n = next_id(state)
    state = _to_returns_screen(put_line(state, Line(n, "return", code, "checking", tags=tags)))
    state = replace(state, chute=(*state.chute, ChuteBook(n, code, tags=tags)))
    if link_is_down(state):
        return route_answered(state, n, None, config)
    request = ReturnRoute(op="return_route", item=code, library_id=config.library_id)
    state, effect = send(state, "route", request, code, n)
    return state, (effect,)


def route_answered(state: State, line_n: int, response: Response | None, config: CoreConfig) -> Step:
    """The hub's route for a chute book (None: no answer, route locally)."""
    book = next((b for b in state.chute if b.line_n == line_n), None)
    if book is None:
        return state, ()  # taken back meanwhile
    if response is not None and response.ok and response.allowed is False:
        message = Text(response.message.zh, response.message.en) if response.message else None
        book = replace(book, route_known=True, refused=True, route="hold", title=response.title or "",
                       reason_code=response.reason_code or "refused", message=message)
    elif response is not None and response.ok and response.route is not None:
        name = response.route_library_name
        book = replace(
            book,
            route_known=True,
            route=response.route,
            route_library=response.route_library,
            route_library_name=Text(name.zh, name.en) if name else library_name(config, response.route_library),
            title=response.title or "",
            mode="online",
        )
    else:
        route, library = local_route(book.barcode, config.library_id, config.institution_members)
        book = replace(book, route_known=True, route=route, route_library=library,
                       route_library_name=library_name(config, library), mode="offline")
        if response is None:
            state = replace(state, hub_answering=False)
    return _settle(_replace_book(state, book), book, config)


def _replace_book(state: State, book: ChuteBook) -> State:
    return replace(state, chute=tuple(book if b.line_n == book.line_n else b for b in state.chute))


def book_entered(state: State, event: BookEntered, config: CoreConfig) -> Step:
    if not returns_open(state):
        return state, ()
    return _to_returns_screen(state), ()


def book_passed(state: State, event: BookPassed, config: CoreConfig) -> Step:
    book = next((b for b in state.chute if not b.passed), None)
    if book is None:
        state = with_notice(_to_returns_screen(state), "notice.book_unidentified")
        return state, (SetDiverter("hold"), Beep("warn"), Log("warning", "return.unidentified", {}))
    book = replace(book, passed=True)
    return _settle(_replace_book(state, book), book, config)


def _settle(state: State, book: ChuteBook, config: CoreConfig) -> Step:
    """Record the return once route and passage are both known. The book is inside the
    machine either way, so its security goes back on before the flap routes it, refused
    or not."""
    if not (book.passed and book.route_known):
        return state, ()
    state = replace(state, chute=tuple(b for b in state.chute if b.line_n != book.line_n))
    line = Line(book.line_n, "return", book.barcode, "returned", title=book.title,
                route=book.route, route_library=book.route_library,
                route_library_name=book.route_library_name, mode=book.mode, tags=book.tags)
    if book.refused or state.service.journal_failed:
        reason = book.reason_code if book.refused else "out_of_service"
        message = book.message or local_message(reason or "")
        line = replace(line, status="refused", reason_code=reason, message=message)
        secure = secure_before_route(config, book.barcode, book.tags)
        return put_line(state, line), (*secure, SetDiverter("hold"), Beep("error"),
                                       Log("info", "return.refused", {"reason": reason}))
    reader = state.reader
    card = reader.card if reader is not None and reader.verified and not reader.staff else None
    route = book.route or "hold"
    record = RecordTxn("return", book.barcode, card, None, route, book.mode)  # type: ignore[arg-type]
    fields = {"item": book.barcode, "route": route, "mode": book.mode}
    secure = secure_before_route(config, book.barcode, book.tags)
    return put_line(state, line), (record, *secure, SetDiverter(route), Beep("ok"),  # type: ignore[arg-type]
                                   Log("info", "return.recorded", fields))


def book_pulled_back(state: State, event: BookPulledBack, config: CoreConfig) -> Step:
    book = next((b for b in state.chute if not b.passed), None)
    if book is None:
        return with_notice(state, "notice.book_taken_back"), ()
    state = with_notice(state, "notice.book_taken_back_named", (("book", book.title or book.barcode),))
    state = replace(state, chute=tuple(b for b in state.chute if b.line_n != book.line_n))
    return drop_line(state, book.line_n), (Log("info", "return.taken_back", {"item": book.barcode}),)


def books_too_close(state: State, event: BooksTooClose, config: CoreConfig) -> Step:
    return with_notice(state, "notice.one_book_at_a_time"), (Beep("warn"),)


def chute_jammed(state: State, event: ChuteJammed, config: CoreConfig) -> Step:
    if state.service.chute_jammed:
        return state, ()
    state = replace(state, service=replace(state.service, chute_jammed=True))
    fields = {"beam": event.beam, "blocked_s": event.blocked_s}
    return state, (Beep("error"), CallStaff("chute-jammed"), Log("warning", "chute.jammed", fields))


def chute_cleared(state: State, event: ChuteCleared, config: CoreConfig) -> Step:
    state = replace(state, service=replace(state.service, chute_jammed=False))
    return state, (Log("info", "chute.cleared", {}),)


def open_returns(state: State) -> Step:
    """Press return: the returns screen with instructions (a reader stays logged in)."""
    state = go(state, "returns")
    key = "notice.returns_instructions" if returns_open(state) else "notice.returns_paused"
    return with_notice(state, key), ()
