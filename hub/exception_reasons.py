"""What each staff exception's reason code means, in one sentence a member of staff reads.

An exception is a committed txn the hub kept for staff (hub/commits.py, hub/txn_checks.py,
hub/session_tokens.py, hub/ils_queue.py): the reader keeps the book; staff decide. The
codes are the hub's own: a loan rule's refusal (`hub.rules.REASONS`) that came too late
because the kiosk lent offline, a bound on what a kiosk may claim, or a member's own
library system refusing a call the hub owed it. `python -m hub exceptions` shows these
sentences; a code missing here is shown as itself (`describe_reason`).
"""

from __future__ import annotations

EXCEPTION_REASONS: dict[str, str] = {
    # A loan rule the kiosk could not ask while offline (hub.rules.REASONS)
    "card_unknown": "The card is not known to the alliance: nobody can be asked to bring the book back.",
    "card_misread": "The card number was misread: the loan may be on the wrong card.",
    "card_expired": "The card had expired: it may not borrow until it is renewed.",
    "card_blocked": "The card is blocked: it may not borrow.",
    "card_blocked_lost": "The card was reported lost: someone else may hold it.",
    "card_blocked_overdue": "The card is blocked for overdue books: it may not borrow more.",
    "card_blocked_fees": "The card is blocked for unpaid fees: it may not borrow.",
    "staff_card": "A staff card was used to borrow: staff cards may not borrow.",
    "scheme_not_accepted": "This library does not lend on this kind of card (it may only return books here).",
    "service_suspended": "Lending is suspended at this library: only returns were allowed.",
    "item_unknown": "The book is not in the alliance's catalogue: check its barcode.",
    "item_not_loanable": "The book may not be lent (reference only).",
    "item_on_loan": "The book was already on loan to another reader: two loans overlap.",
    "item_in_transit": "The book was in transit to another library.",
    "item_on_hold": "The book was on hold for another reader.",
    "limit_reached": "The reader already had as many books as the card allows.",
    "renew_limit": "The loan had been renewed as often as the card allows.",
    "renew_on_hold": "The book is on hold for another reader: it may not be renewed.",
    "renew_overdue": "The book was overdue: it may not be renewed.",
    "card_required": "The txn names no card: nobody is on the loan.",
    "not_on_loan": "The book was not on loan: nothing to renew or return.",
    # What a kiosk claims about a txn, bounded by the hub (hub.txn_checks)
    "due_beyond_loan_period": "The kiosk promised a due date beyond the loan period: the ledger keeps the rule's date.",
    "at_in_future": "The kiosk dated the txn in the future: its clock may be wrong.",
    "at_beyond_offline_window": "The txn reached the hub after the offline window: it is older than a kiosk may stay offline.",
    # An online loan without the session a right PIN opened (hub.session_tokens)
    "no_session_token": "An online loan or renewal came without the session of a right PIN.",
    "session_token_invalid": "An online loan or renewal came with a session token for another kiosk or card, or a forged one.",
    "session_token_expired": "An online loan or renewal came after its PIN session had expired.",
    # A member's own library system (SIP2) refused a call the hub owed it (hub.ils_drainer)
    "ils_no_guest_patron": "The member's own system has no guest patron for this card's scheme: it was not told.",
    "ils_patron_blocked": "The member's own system says the patron is blocked: it did not lend.",
    "ils_checkout_refused": "The member's own system refused the checkout: it does not show the loan.",
    "ils_checkin_refused": "The member's own system refused the return: it still shows the book on loan.",
    "ils_renew_refused": "The member's own system refused the renewal.",
    "ils_refused": "The member's own system refused the request.",
    "ils_unavailable": "The member's own system could not be reached.",
    "ils_invalid_request": "The member's own system found the call invalid, again and again: it was not told.",
    "ils_answer_mismatch": "The member's own system answered with another patron, item or sequence number than asked: the answer was refused, and whether it acted is unknown.",
}


def describe_reason(code: str) -> str:
    """The sentence for `code`, or the code itself when none is written yet."""
    return EXCEPTION_REASONS.get(code, f"{code} (no description yet: see the summary)")
