"""What an answer shows of a reader on the wire: their loans (titles only once they
authenticated), how many more they may borrow, their holds and the loans falling due
soon, and their card's state as the kiosk reads it. Names and card numbers never appear
here: the answer masks the name itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo

from contract import messages
from hub.ledger.queries import HoldRow, LoanRow
from hub.rules.rules import Decision, ReaderRecord
from hub.rules.schemes import Scheme


def loan_lines(loans: list[LoanRow], scheme: Scheme, with_titles: bool) -> list[messages.LoanLine]:
    """A reader's loans on the wire; titles only once the reader authenticated."""
    return [
        messages.LoanLine(
            item=loan.item,
            title=loan.title if with_titles else None,
            due=loan.due,
            renewals_left=max(0, scheme.max_renewals - loan.renewals),
        )
        for loan in loans
    ]


DUE_SOON_DAYS = 3
"""A loan due within this many days of the alliance's date is named at the greeting."""


def hold_lines(
    holds: list[HoldRow], library_name: Callable[[str], messages.Bilingual | None]
) -> list[messages.HoldLine]:
    """The holds a reader can act on: "ready" (the book is on the pickup library's hold
    shelf) and "in_transit" (on its way there). A hold whose book another reader still
    has is left out, and so is a "ready" hold whose book is not on the hold shelf (lent
    offline meanwhile: staff sort that out), so the kiosk never sends a reader to fetch a
    book that is not there."""
    lines = []
    for hold in holds:
        if hold.hold_state == "ready" and hold.item_state == "on_hold":
            status = "ready"
        elif hold.item_state == "in_transit":
            status = "in_transit"
        else:
            continue
        lines.append(
            messages.HoldLine(
                item=hold.item,
                title=hold.title or None,
                status=status,  # type: ignore[arg-type]
                pickup_library=hold.pickup_library,
                pickup_library_name=library_name(hold.pickup_library),
            )
        )
    return lines


def due_soon(loans: list[LoanRow], now: datetime, local_tz: tzinfo, days: int = DUE_SOON_DAYS) -> list[str]:
    """Barcodes of the loans due from `now` (the hub's clock) to the end of the alliance's
    day `days` from today: due dates are the end of a local day, so "within three days"
    is counted on the local calendar. Overdue loans are not "due soon"."""
    last: date = now.astimezone(local_tz).date() + timedelta(days=days)
    return [loan.item for loan in loans if loan.due >= now and loan.due.astimezone(local_tz).date() <= last]


def items_left(loans: list[LoanRow], scheme: Scheme) -> int:
    """How many more books the scheme lets the reader borrow."""
    return max(0, scheme.max_items - len(loans))


def reader_state(reader: ReaderRecord, decision: Decision) -> str:
    """The wire's reader state: the ledger's state, or "expired" when the rules found the
    card past its date."""
    code = (decision.reason_code or "") if not decision.allowed else ""
    if reader.state in ("blocked", "expired"):
        return reader.state
    if "expired" in code:
        return "expired"
    if "blocked" in code:
        return "blocked"
    return "valid"
