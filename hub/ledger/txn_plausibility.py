"""What an offline loan or a return may claim, judged against what the hub itself saw.

Offline loans need no PIN and no session token: the kiosk's word that it could not reach
the hub is all they have. Returns need no card at all. So one kiosk could lend any book
to any card by calling it "offline", or close any reader's loan by "returning" the book.
These checks turn such claims into staff exceptions (the txn is still committed: a real
reader keeps the book, a real book in a chute is taken), each with its reason:

- `offline_while_online`: an offline loan dated where the hub was hearing the kiosk
  before and after (hub/ledger/kiosk_presence.py, `[hub] offline_presence_margin_s`), or
  delivered within that margin of its `at` in the same session the hub heard it in just
  before (no reconnect in between): the kiosk was talking to the hub, so it was not
  offline.
- `offline_over_card_limit`: the card already holds `offline_max_items` books from
  offline loans (at any kiosk) made within `[hub] offline_limit_hours`: the offline
  policy the hub sends kiosks with the blocklist ("books per reader while offline").
- `offline_over_kiosk_limit`: the kiosk already made `[hub] offline_loans_per_kiosk_hour`
  offline loans in the hour before this one.
- `return_implausible`: a return at another library than the one that lent the book,
  sooner than `[hub] return_min_interval_s` after (or before) that loan. The loan stays
  open until staff decide; the kiosk is flagged `implausible_returns`.
- `returns_over_chute_rate`: the kiosk already took `[hub] returns_per_minute` returns
  in the minute before this one: more than a chute takes. Likewise held and flagged.

A card blocked when the hub judges an offline loan is the rules' own exception
(`card_blocked`, `card_blocked_lost`, ...: hub.rules.rules), not repeated here.

What a caller may rely on: `judge` reads only, inside the caller's transaction, before
the txn's effects; `Verdict.hold_return` tells the commit not to close the loan.
Times are the ledger's placed times (hub.ledger.txn_clock), never the kiosk's raw `at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contract import messages
from hub.ledger import kiosk_presence
from hub.ledger.kiosk_flags import IMPLAUSIBLE_RETURNS
from hub.ledger.ledger_sql import Database, parse_time_text, time_text
from hub.ledger.txn_checks import OfflineBounds
from hub.ledger.txn_clock import Placement, shifted

OFFLINE_WHILE_ONLINE = "offline_while_online"
OFFLINE_OVER_CARD_LIMIT = "offline_over_card_limit"
OFFLINE_OVER_KIOSK_LIMIT = "offline_over_kiosk_limit"
RETURN_IMPLAUSIBLE = "return_implausible"
RETURNS_OVER_CHUTE_RATE = "returns_over_chute_rate"

# A return kept for staff with one of these does not close the book's loan, now or when
# the book's loans are derived again (hub.ledger.item_history).
HELD_RETURN_REASONS = (RETURN_IMPLAUSIBLE, RETURNS_OVER_CHUTE_RATE)


@dataclass(frozen=True)
class Verdict:
    """The exceptions a txn earns here, the kiosk flags to raise (flag, detail for
    staff), and whether a return must leave the loan open."""

    problems: tuple[str, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()
    hold_return: bool = False


def judge(
    db: Database,
    txn: messages.Txn,
    placement: Placement,
    now: datetime,
    card_hash: str | None,
    bounds: OfflineBounds,
) -> Verdict:
    """What is implausible about `txn`, placed by hub.ledger.txn_clock, received at `now`."""
    at = placement.at
    if txn.kind == "loan" and txn.mode == "offline":
        # An `at` the hub could not vouch for was moved (hub.ledger.txn_clock, its own
        # exception): whether the kiosk was heard at the moved time says nothing.
        dated = not placement.problems
        return Verdict(problems=tuple(_offline_loan_problems(db, txn, at, now, card_hash, bounds, dated)))
    if txn.kind == "return":
        return _return_verdict(db, txn, at, now, bounds)
    return Verdict()


def _offline_loan_problems(
    db: Database,
    txn: messages.Txn,
    at: datetime,
    now: datetime,
    card_hash: str | None,
    bounds: OfflineBounds,
    dated: bool,
) -> list[str]:
    problems = []
    margin = bounds.presence_margin
    if dated and margin > timedelta(0) and (
        kiosk_presence.heard_around(db, txn.kiosk_id, at)
        or (now - at <= margin and kiosk_presence.heard_just_before(db, txn.kiosk_id, at, margin))
    ):
        problems.append(OFFLINE_WHILE_ONLINE)
    if card_hash is not None:
        held = db.scalar(
            "SELECT count(*) FROM loans l JOIN txns t ON t.txn_id = l.txn_id"
            " WHERE l.card_hash = ? AND l.closed_at IS NULL AND t.mode = 'offline' AND t.order_at > ?",
            (card_hash, time_text(shifted(at, -bounds.offline_limit_period.total_seconds()))),
        )
        if int(held or 0) >= bounds.offline_max_items_at(txn.kiosk_id):
            problems.append(OFFLINE_OVER_CARD_LIMIT)
    by_kiosk = db.scalar(
        "SELECT count(*) FROM txns WHERE kiosk_id = ? AND kind = 'loan' AND mode = 'offline'"
        " AND result = 'committed' AND order_at > ? AND order_at <= ?",
        (txn.kiosk_id, time_text(shifted(at, -3600)), time_text(at)),
    )
    if int(by_kiosk or 0) >= bounds.offline_loans_per_kiosk_hour:
        problems.append(OFFLINE_OVER_KIOSK_LIMIT)
    return problems


def _return_verdict(db: Database, txn: messages.Txn, at: datetime, now: datetime, bounds: OfflineBounds) -> Verdict:
    problems: list[str] = []
    flags: list[tuple[str, str]] = []
    loan = db.query_one(
        "SELECT t.library_id, t.order_at, t.kiosk_id FROM loans l JOIN txns t ON t.txn_id = l.txn_id"
        " WHERE l.item = ? AND l.closed_at IS NULL",
        (txn.item,),
    )
    if loan is not None and loan[0] != txn.library_id:
        lent_at = parse_time_text(loan[1])
        # Online, the hub judges at its receipt; offline, the receipt bounds a return
        # dated ahead of it.
        returned_at = now if txn.mode == "online" else min(at, now)
        if lent_at is not None and abs(returned_at - lent_at) < bounds.return_min_interval:
            problems.append(RETURN_IMPLAUSIBLE)
            minutes = abs(returned_at - lent_at).total_seconds() / 60
            flags.append(
                (IMPLAUSIBLE_RETURNS, f"returned at {txn.library_id} {minutes:.0f} min after a loan at {loan[0]}")
            )
    recent = db.scalar(
        "SELECT count(*) FROM txns WHERE kiosk_id = ? AND kind = 'return' AND result = 'committed'"
        " AND order_at > ? AND order_at <= ?",
        (txn.kiosk_id, time_text(shifted(at, -60)), time_text(at)),
    )
    if int(recent or 0) >= bounds.returns_per_minute:
        problems.append(RETURNS_OVER_CHUTE_RATE)
        flags.append((IMPLAUSIBLE_RETURNS, f"more than {bounds.returns_per_minute} returns in a minute"))
    return Verdict(tuple(problems), tuple(flags), hold_return=bool(problems))
