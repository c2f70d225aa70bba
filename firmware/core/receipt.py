"""The reader's receipt: plain lines in the session's language, one a book.

The same lines are printed (PrintReceipt), shown on the summary screen and put in its
QR code, so what a reader keeps is what the screen said. What a caller may rely on:

- The kiosk's library is named as readers know it (首都图书馆 / Capital Library of
  China), never by its id; an id the alliance's data does not hold is shown as it is.
- Every book is named by its barcode and, when the hub told it, its title: a reader
  with three books on the desk can tell which one was refused.
- A refused line says why, in the hub's (or the kiosk's own) words (its reason code
  when no words came with it); a book still being checked says so; a done line with a problem attached (a security tag that stayed on)
  carries those words too.
- The card number is masked.
"""

from __future__ import annotations

from firmware.core.config import CoreConfig, library_name
from firmware.core.identify import mask
from firmware.core.state import Line, State

# status -> (zh, en): what happened to the book
_DONE_WORDS: dict[str, tuple[str, str]] = {
    "loaned": ("借出 应还", "loaned, due"),
    "offline_loaned": ("离线借出 应还", "loaned offline, due"),
    "renewed": ("续借 应还", "renewed, due"),
    "returned": ("已还", "returned"),
    "refused": ("未办理", "not done"),
    # a returned book whose route the hub has not told yet (finish does not wait for it)
    "checking": ("处理中", "still being checked"),
    "queued": ("处理中", "still being checked"),
}


def receipt_lines(state: State, config: CoreConfig) -> tuple[str, ...]:
    """The receipt of the session in `state` (a reader must be there)."""
    zh = state.language == "zh"
    reader = state.reader
    assert reader is not None
    name = library_name(config, config.library_id)
    library = name.in_language(state.language) if name is not None else config.library_id
    head = (
        "首都图书馆联盟" if zh else "Capital Library Alliance",
        f"{'馆' if zh else 'Library'}: {library}  {'机' if zh else 'Kiosk'}: {config.kiosk_id}",
        f"{'读者证' if zh else 'Card'}: {mask(reader.card.number)}",
    )
    return head + tuple(book_line(line, state.language) for line in state.lines if line.status in _DONE_WORDS)


def book_line(line: Line, language: str) -> str:
    """One book: "barcode title: what happened[ due][ — why]"."""
    word = _DONE_WORDS[line.status][0 if language == "zh" else 1]
    due = f" {line.due.date().isoformat()}" if line.due is not None and line.status != "refused" else ""
    title = f" {line.title}" if line.title else ""
    if line.message is not None:
        why = f" — {line.message.in_language(language)}"
    elif line.status == "refused" and line.reason_code:
        why = f" ({line.reason_code})"  # no words came with the code: staff can read it
    else:
        why = ""
    return f"{line.barcode}{title}: {word}{due}{why}"
