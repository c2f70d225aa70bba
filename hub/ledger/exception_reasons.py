"""Every reason code the hub records on a staff exception, with a sentence for staff.

An exception is a txn the hub committed (it happened: the reader keeps the book, a book
in the chute is taken) but does not take at its word; the `exceptions` table holds its
reason code. This is the one list of those codes, so a staff command (`hub exceptions`)
can say each in words, and a test can check that the hub records no code missing here.

Where they come from: the loan rules applied to an offline txn (hub.rules.rules, hub.ledger.commits),
the bounds on what a kiosk may claim (hub.ledger.txn_checks, hub.ledger.txn_clock, hub.ledger.session_tokens,
hub.ledger.txn_plausibility), and members' own library systems (hub.ils.ils_drainer,
hub.ils.ils_operations, hub.ledger.ils_live). docs/security.md, "Hub-side checks", explains each.

What a caller may rely on: every key is a code the hub may write; `describe` never
raises, so an older ledger's unknown code still shows (as itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

EXCEPTION_REASONS: Mapping[str, str] = MappingProxyType(
    {
        # The loan rules, applied to an offline txn the hub would have refused online.
        "card_required": "The kiosk sent a loan or renewal without a card.",
        "card_unknown": "The card is not known to the alliance.",
        "card_misread": "The card number could not be read as a card of its scheme.",
        "card_expired": "The card had expired when the book was lent offline.",
        "card_blocked": "The card was blocked when the hub judged this offline loan.",
        "card_blocked_lost": "The card was reported lost when the hub judged this offline loan.",
        "card_blocked_overdue": "The card was blocked for overdue books when the hub judged this offline loan.",
        "card_blocked_fees": "The card was blocked for unpaid fees when the hub judged this offline loan.",
        "staff_card": "A staff (technician) card was used to borrow offline.",
        "scheme_not_accepted": "This library does not lend to this kind of card, but the kiosk lent offline.",
        "service_suspended": "Lending is suspended at this library, but the kiosk lent offline.",
        "item_unknown": "The book's barcode is not in the catalogue: identify the book.",
        "item_not_loanable": "The book may not be lent (reference or not for loan), but it was lent offline.",
        "home_lending_suspended": "The book's own library has suspended lending, but the kiosk "
        "lent it offline.",
        "item_on_loan": "The book was already on loan to another reader at that moment: two loans overlap.",
        "item_in_transit": "The book was in transit between libraries when it was lent offline.",
        "item_on_hold": "The book was on the hold shelf for another reader when it was lent offline.",
        "limit_reached": "The reader already had as many books as the card allows.",
        "renew_limit": "The loan had been renewed as often as the card allows.",
        "renew_on_hold": "Another reader is waiting for the book, but it was renewed offline.",
        "renew_overdue": "The book was overdue, but it was renewed offline.",
        "not_on_loan": "The book renewed offline was not on loan to this reader.",
        "refused": "The hub would have refused this offline txn.",
        # What a kiosk may claim (hub.ledger.txn_checks, hub.ledger.txn_clock).
        "due_beyond_loan_period": "The kiosk promised a due date beyond the card's loan period; "
        "the ledger keeps the rule's date.",
        "at_in_future": "The txn is dated ahead of the hub's clock; it is placed at the hub's receipt.",
        "at_beyond_offline_window": "The txn is dated before the offline window; it is placed at the window's start.",
        "at_before_last_row": "The txn is dated before this kiosk's previous row; it is placed after that row.",
        "kiosk_clock_off": "The kiosk's clock is beyond the allowed offset from the hub's; "
        "the txn was not re-dated by it. Check the kiosk's time.",
        # Session tokens (hub.ledger.session_tokens, hub.ledger.txn_checks).
        "no_session_token": "An online loan or renewal without the session token of a PIN check at this kiosk.",
        "session_token_invalid": "An online loan or renewal with a forged session token, "
        "or one for another kiosk or card.",
        "session_token_expired": "An online loan or renewal dated after its session token expired.",
        "session_token_expired_at_receipt": "The session token had expired when the txn reached the hub, "
        "and the kiosk had been connected in between: not a loan held back by an outage.",
        # What an offline loan or a return claims (hub.ledger.txn_plausibility).
        "offline_while_online": "An offline loan dated while the hub was hearing the kiosk: it was not offline.",
        "offline_over_card_limit": "The reader already held as many books from offline loans as the offline policy allows.",
        "offline_over_kiosk_limit": "The kiosk made more offline loans in an hour than the offline policy allows.",
        "return_implausible": "The book was returned at one library minutes after it was lent at another; "
        "the loan stays open until staff decide.",
        "returns_over_chute_rate": "The kiosk returned more books in a minute than its chute can take; "
        "the loan stays open until staff decide.",
        # A return's route (hub.ledger.commits): the ledger follows the book, not a second decision.
        "route_corrected": "The chute's diverter routed the returned book otherwise than the hub would now; "
        "the ledger records where the diverter sent it (see the summary for both routes): "
        "find the book there and send it on if it must go elsewhere.",
        # What one kiosk may leave waiting in its order (hub.ledger.order_caps, hub.worker.parked_sweeper).
        "parked_too_long": "The txn waited longer than allowed for an earlier one of its kiosk that never came; "
        "it was committed without it, so check that kiosk's journal for the missing row.",
        # Members' own library systems (hub.ils.ils_operations, hub.ils.ils_drainer).
        "ils_no_guest_patron": "The member's system has no guest patron for this card's scheme: "
        "the txn could not be passed on.",
        "ils_invalid_request": "The member's system found the hub's request invalid.",
        "ils_checkin_refused": "The member's system refused to check the book in.",
        "ils_patron_blocked": "The member's system says the patron is blocked.",
        "ils_checkout_refused": "The member's system refused to lend the book.",
        "ils_renew_refused": "The member's system refused to renew the loan.",
        "ils_refused": "The member's system refused the request.",
        "ils_unavailable": "The member's system could not be reached.",
        "ils_answer_mismatch": "The member's system answered with another patron, item or sequence number "
        "than asked: the answer was refused, and whether it acted is unknown.",
        "ils_live_checkout_unclaimed": "The member's system lent the book at a kiosk's request, no loan txn "
        "followed, and checking it back in failed: the system still shows it lent.",
    }
)


# Codes whose summary carries what staff need beyond the txn itself (a route correction's
# two routes): `hub exceptions` shows their summary, as it does a call's.
SUMMARY_SHOWN = frozenset({"route_corrected"})


def describe_reason(code: str) -> str:
    """The staff sentence for `code`, or the code itself when it is not (yet) listed."""
    return EXCEPTION_REASONS.get(code, code)
