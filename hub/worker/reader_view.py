"""What an answer shows of a reader on the wire: their loans (titles only once they
authenticated), how many more they may borrow, and their card's state as the kiosk reads
it. Names and card numbers never appear here: the answer masks the name itself.
"""

from __future__ import annotations

from contract import messages
from hub.ledger.queries import LoanRow
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
