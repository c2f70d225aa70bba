"""What the greeting tells a reader besides their name and quota (issue 19): the books
reserved for them, ready on a hold shelf or on their way, and the loans falling due
within three days. Both come from the hub's answer (`Reader.holds`, `Reader.due_soon`):
the hub judges "due soon" on its own clock, never the kiosk's.

What a caller may rely on: a held book lent in this session, and a loan renewed or
returned in it, drop off these notes at once (the hub is not asked again); a reader
admitted offline has none (the hub said nothing).
"""

from __future__ import annotations

from firmware.core.config import CoreConfig
from firmware.core.state import State
from firmware.view import DueNote, HoldNote, Text

_LENT = frozenset({"loaned", "offline_loaned"})
_NO_LONGER_DUE = frozenset({"renewed", "returned"})


def hold_notes(state: State, config: CoreConfig) -> tuple[HoldNote, ...]:
    """The reader's holds still to collect: ready ones first (they can be fetched now),
    those at this kiosk's library before the others."""
    reader = state.reader
    if reader is None:
        return ()
    lent = {line.barcode for line in state.lines if line.status in _LENT}
    notes = [
        HoldNote(
            barcode=hold.item,
            title=hold.title or "",
            status=hold.status,
            library_id=hold.pickup_library,
            library_name=(
                Text(hold.pickup_library_name.zh, hold.pickup_library_name.en)
                if hold.pickup_library_name is not None
                else None
            ),
            here=hold.pickup_library == config.library_id,
        )
        for hold in reader.holds
        if hold.item not in lent
    ]
    return tuple(sorted(notes, key=lambda n: (n.status != "ready", not n.here)))


def due_notes(state: State) -> tuple[DueNote, ...]:
    """The loans the hub named as due soon, with title and due date, soonest first."""
    reader = state.reader
    if reader is None or not reader.due_soon:
        return ()
    settled = {line.barcode for line in state.lines if line.status in _NO_LONGER_DUE}
    soon = set(reader.due_soon) - settled
    loans = sorted((loan for loan in reader.loans if loan.item in soon), key=lambda loan: loan.due)
    return tuple(DueNote(loan.item, loan.title or "", loan.due.date().isoformat()) for loan in loans)
