"""Committing kiosk transactions (loan, return, renew) exactly once.

Kiosks publish at least once (QoS 1, retried from their journals); `commit` inserts
the txn row under a unique `txn_id` and applies its effects in the same database
transaction, so a repeat — even two workers racing on the same txn — finds the first
row and answers with the original ack ("duplicate"). A rejected txn repeats as the same
rejection.

Online, the hub decides: a refusal is a rejection and the kiosk must not have done it.
Offline txns already happened in the reader's hands: they are judged at the moment they
happened, and a conflict the hub finds is committed as an exception row for staff, never
dropped (the SIP2 offline pattern). What a kiosk may claim offline is bounded
(`hub.ledger.txn_checks`): a txn dated ahead of the hub's clock or older than the offline window,
or promising a due date beyond the scheme's loan period, is an exception too, and the
ledger keeps the rule's due date rather than the longer one. An online loan or renewal
without a session token valid at its `at` (and not stale at its receipt) is committed,
but as an exception too.

The hub's clock decides where a txn goes in time (`hub.ledger.txn_clock`): a kiosk's `at` is
corrected by its measured clock offset only within `[hub] max_clock_offset_s`, and a txn
whose `at` the hub cannot vouch for is placed inside what it can (after the kiosk's
latest row, not after its receipt) and kept for staff. Loans open and close, and due
dates are capped, at that placed time, never at the kiosk's raw `at`. What an offline
loan or a return claims beyond time (an "offline" kiosk the hub was hearing, offline
limits, a return that cannot be true) is `hub.ledger.txn_plausibility`'s to judge; a return it
holds leaves the loan open until staff decide.

A return's route is decided once, when the kiosk asks (`return_route`, hub/worker/answers.py;
for a member's own system its 09) or by the kiosk's offline rule; the chute's diverter
routes the book and the txn says where (`Txn.route`). The ledger records that route (the
book's state, its transfer row), not a second decision: when the hub would route it
otherwise now (what the system's live 09 answered, else `rules.route_return`), the txn
is committed as the diverter routed it and kept for staff as a `route_corrected`
exception naming both routes. A txn without a route (older kiosks) is routed by the
hub's rules, as before.

A `follow_up` (`TxnFollowUp`) runs inside the same database transaction after a txn's
first commit: the hook of the members' own library systems (hub/ils/ils_operations.py,
`IlsGateway.follow_txn`), which records what the book's system is owed with the txn.

What one kiosk may leave waiting is capped (hub/ledger/order_caps.py): a txn over a cap raises
`OverCap` from `commit`, nothing of it written (judged first without a write, so a flood
of refused txns costs reads only). `sweep_parked` hands parked txns older than the cap's
age to staff: committed, each with a `parked_too_long` exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from contract import messages
from contract.privacy import card_hash
from hub.ledger import (
    ils_queue,
    item_history,
    kiosk_flags,
    kiosk_presence,
    ordering,
    queries,
    txn_checks,
    txn_clock,
    txn_plausibility,
)
from hub.ledger.ils_door import IlsLedger
from hub.ledger.ledger_sql import Database, time_text
from hub.ledger.order_caps import PARKED_TOO_LONG, OrderCaps, forget_old_epochs
from hub.ledger.txn_checks import OfflineBounds
from hub.rules import rules
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

# A return the chute's diverter routed otherwise than the hub's rules say: the ledger
# follows the diverter (the book is there), staff see both routes (hub/ledger/exception_reasons.py).
ROUTE_CORRECTED = "route_corrected"

_ATTEMPTS = 6  # lock timeouts and deadlocks: 10 ms, 20 ms, ... then give up

# (the ILS leg's door over the txn's database transaction, txn, its ack, now) -> the ack
# to keep, inside that transaction.
TxnFollowUp = Callable[[IlsLedger, messages.Txn, messages.Ack, datetime], messages.Ack]


def commit(
    db: Database,
    txn: messages.Txn,
    registry: Registry,
    now: datetime,
    bounds: OfflineBounds | None = None,
    follow_up: TxnFollowUp | None = None,
    caps: OrderCaps | None = None,
) -> list[messages.Ack]:
    """Commit one kiosk transaction exactly once, in its kiosk's order (hub.ledger.ordering), and
    return the acks to send: none while it waits for a predecessor; its own, followed by
    those of the waiting txns it released. Retries a few times on lock timeouts,
    deadlocks and a lost race on a unique index; other errors propagate (the kiosk will
    send the txn again). `bounds`: what an offline txn may claim (default
    `OfflineBounds()`); `follow_up`: see the module doc; `caps`: what the kiosk may leave
    waiting (default `OrderCaps()`): over them, `OverCap` is raised and nothing of the
    txn written."""
    bounds = bounds or OfflineBounds()
    ordering.check_caps(db, txn, now, lambda txn_id: _repeat_ack_of(db, txn_id), caps)  # no write to refuse
    return _in_write(
        db,
        lambda: ordering.commit_in_order(
            db,
            txn,
            now,
            apply=lambda t: _apply(db, t, registry, now, bounds, follow_up),
            repeat_ack=lambda txn_id: _repeat_ack_of(db, txn_id),
            caps=caps,
        ),
    )


def sweep_parked(
    db: Database,
    registry: Registry,
    now: datetime,
    caps: OrderCaps | None = None,
    bounds: OfflineBounds | None = None,
    follow_up: TxnFollowUp | None = None,
) -> list[tuple[str, messages.Ack]]:
    """Hand every txn parked longer than `caps.parked_max_age` to staff: committed (as
    `commit` would, in its kiosk's order), kept as a `parked_too_long` exception, and the
    kiosk's order goes on after it (hub.ledger.ordering.release_stale). One database
    transaction per kiosk epoch. (kiosk_id, ack) of every txn it applied, for the
    caller to send; the kiosk would otherwise learn them from its next resend."""
    caps = caps or OrderCaps()
    bounds = bounds or OfflineBounds()
    sent: list[tuple[str, messages.Ack]] = []
    for kiosk_id, epoch, top in ordering.stale_parked(db, now - caps.parked_max_age):

        def release(kiosk_id: str = kiosk_id, epoch: str = epoch, top: int = top) -> list[messages.Ack]:
            return ordering.release_stale(
                db,
                kiosk_id,
                epoch,
                top,
                apply=lambda t: _apply(db, t, registry, now, bounds, follow_up),
                keep_for_staff=lambda t, first: _keep_swept(db, t, first, now),
            )

        acks = _in_write(db, release)
        if acks:
            log.warning(
                "kiosk %s: txns of journal epoch %s waited over %g h for a predecessor: %d committed,"
                " the stale ones as %s exceptions for staff",
                kiosk_id, epoch, caps.parked_max_age.total_seconds() / 3600, len(acks), PARKED_TOO_LONG,
            )  # fmt: skip
        sent += [(kiosk_id, ack) for ack in acks]
    _in_write(db, lambda: forget_old_epochs(db, now))
    return sent


def _keep_swept(db: Database, txn: messages.Txn, ack: messages.Ack, now: datetime) -> messages.Ack:
    """A swept txn, applied though its predecessors never came: an exception row for
    staff, named in its ack when it was committed without one."""
    if ack.result == "duplicate":
        return ack
    _record_exception(db, txn, PARKED_TOO_LONG, now)
    if ack.result == "committed" and ack.exception is None:
        ack = ack.model_copy(update={"exception": PARKED_TOO_LONG})
        db.execute("UPDATE txns SET ack_json = ? WHERE txn_id = ?", (messages.encode(ack).decode(), txn.txn_id))
    return ack


def _in_write(db: Database, work: Callable[[], T]) -> T:
    """`work()` in one write transaction, retried a few times on lock timeouts, deadlocks
    and a lost race on a unique index (a txn_id, one active loan per item, a kiosk's
    order); the last failure propagates."""
    delay = 0.01
    for attempt in range(_ATTEMPTS):
        try:
            with db.write():
                return work()
        except (*db.RetryableError, db.IntegrityError):
            if attempt == _ATTEMPTS - 1:
                raise
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")



def _repeat_ack_of(db: Database, txn_id: str) -> messages.Ack | None:
    row = db.query_one("SELECT result, ack_json FROM txns WHERE txn_id = ?", (txn_id,))
    return None if row is None else _repeat_ack(row)


def _apply(
    db: Database,
    txn: messages.Txn,
    registry: Registry,
    now: datetime,
    bounds: OfflineBounds,
    follow_up: TxnFollowUp | None = None,
) -> messages.Ack:
    """Record `txn` and its effects (its kiosk's order already allows it)."""
    reader_key = card_hash(txn.card.scheme, txn.card.number) if txn.card else None
    received = _aware(now)
    placement = txn_clock.place(db, txn, received, bounds)
    order_at = time_text(placement.at)
    inserted = db.execute(
        "INSERT INTO txns (txn_id, kiosk_id, library_id, kind, item, card_hash, at, mode,"
        " result, ack_json, committed_at, seq, epoch, order_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', '{}', ?, ?, ?, ?)"
        " ON CONFLICT (txn_id) DO NOTHING",
        (
            txn.txn_id,
            txn.kiosk_id,
            txn.library_id,
            txn.kind,
            txn.item,
            reader_key,
            time_text(txn.at),
            txn.mode,
            time_text(now),
            txn.seq,
            txn.epoch,
            order_at,
        ),
    )
    if inserted == 0:  # a repeat: the first answer again
        earlier = _repeat_ack_of(db, txn.txn_id)
        assert earlier is not None
        return earlier
    newest = item_history.is_newest_event(db, txn.item, order_at, txn.kiosk_id, txn.seq)
    verdict = txn_plausibility.judge(db, txn, placement, received, reader_key, bounds)
    effects = _Commit(db, txn, registry, now, reader_key, placement, verdict.hold_return)
    ack = effects.apply()
    if ack.result == "committed":
        problems = [*placement.problems, *verdict.problems]
        session = txn_checks.session_problem(
            bounds, txn, placement.told, received,
            lambda start, end: kiosk_presence.heard_between(db, txn.kiosk_id, start, end),
        )  # fmt: skip
        if session is not None:
            problems.append(session)
        ack = _flag_out_of_bounds(db, txn, ack, problems, effects.due_capped, now)
        for flag, detail in verdict.flags:
            kiosk_flags.raise_flag(db, txn.kiosk_id, flag, detail, now)
    if follow_up is not None and ack.result == "committed":
        ack = follow_up(IlsLedger(db), txn, ack, now)
    item_state = None
    if txn.kind == "return" and ack.result == "committed":
        item_state = db.scalar("SELECT state FROM items WHERE barcode = ?", (txn.item,))
    db.execute(
        "UPDATE txns SET result = ?, ack_json = ?, item_state = ? WHERE txn_id = ?",
        (ack.result, messages.encode(ack).decode(), item_state, txn.txn_id),
    )
    if ack.result == "committed" and not newest:
        # It happened before something the ledger already holds: derive the book's loans
        # again in the order its readers were told (hub.ledger.item_history), and judge overlaps
        # by that order, not by arrival.
        _reconcile_overlaps(db, txn.item, set(item_history.rederive(db, txn.item)), now)
        ack = _stored_ack(db, txn.txn_id)
    return ack


def _flag_out_of_bounds(
    db: Database,
    txn: messages.Txn,
    ack: messages.Ack,
    problems: list[str],
    due_capped: bool,
    now: datetime,
) -> messages.Ack:
    """Keep a txn outside the bounds for staff: one exception row per problem (its `at`
    or its kiosk's clock, an online loan's session token, what `hub.ledger.txn_plausibility`
    found; a due date the ledger capped, which the ack already shows); the ack names the
    first exception when it had none."""
    problems = list(problems)
    if due_capped:
        problems.append(txn_checks.DUE_BEYOND_LOAN_PERIOD)
    for reason in problems:
        _record_exception(db, txn, reason, now)
    if problems and ack.exception is None:
        ack = ack.model_copy(update={"exception": problems[0]})
    return ack


def _record_exception(db: Database, t: messages.Txn, reason: str, now: datetime, detail: str | None = None) -> None:
    scheme = t.card.scheme if t.card else "-"
    summary = f"{t.mode} {t.kind} of item {t.item} at {t.library_id} by kiosk {t.kiosk_id}, card scheme {scheme}"
    if detail:
        summary = f"{summary}; {detail}"
    db.execute(
        "INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES (?, ?, ?, ?, ?)",
        (t.txn_id, t.kiosk_id, reason, summary, time_text(now)),
    )


def _stored_ack(db: Database, txn_id: str) -> messages.Ack:
    return messages.Ack.model_validate_json(db.scalar("SELECT ack_json FROM txns WHERE txn_id = ?", (txn_id,)))


def _reconcile_overlaps(db: Database, item: str, overlapping: set[str], now: datetime) -> None:
    """Staff see an `item_on_loan` exception exactly for the loans that overlap another
    reader's in told order: one judged so on arrival, before an earlier return arrived,
    is cleared (from its stored ack too); a loan that now overlaps is added."""
    flagged = {
        row[0]
        for row in db.query(
            "SELECT e.txn_id FROM exceptions e JOIN txns t ON t.txn_id = e.txn_id"
            " WHERE t.item = ? AND e.reason = 'item_on_loan'",
            (item,),
        )
    }
    for txn_id in flagged - overlapping:
        db.execute("DELETE FROM exceptions WHERE txn_id = ? AND reason = 'item_on_loan'", (txn_id,))
        cleared = _stored_ack(db, txn_id).model_copy(update={"exception": None})
        db.execute("UPDATE txns SET ack_json = ? WHERE txn_id = ?", (messages.encode(cleared).decode(), txn_id))
    for txn_id in overlapping - flagged:
        _record_overlap(db, txn_id, now)


def _record_overlap(db: Database, txn_id: str, now: datetime) -> None:
    row = db.query_one("SELECT kiosk_id, library_id, item FROM txns WHERE txn_id = ?", (txn_id,))
    assert row is not None
    kiosk_id, library_id, item = row
    summary = f"loan of item {item} at {library_id} by kiosk {kiosk_id} overlaps another reader's loan"
    db.execute(
        "INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES (?, ?, 'item_on_loan', ?, ?)",
        (txn_id, kiosk_id, summary, time_text(now)),
    )


def _repeat_ack(row: Any) -> messages.Ack:
    """The stored ack again: a committed txn repeats as "duplicate", a rejected one as
    the same rejection (so the kiosk sees one consistent answer)."""
    result, ack_json = row
    ack = messages.Ack.model_validate_json(ack_json)
    if result == "committed":
        return ack.model_copy(update={"result": "duplicate"})
    return ack


class _Commit:
    """The effects of one txn, inside the database transaction `_commit_once` opened."""

    def __init__(
        self,
        db: Database,
        txn: messages.Txn,
        registry: Registry,
        now: datetime,
        reader_key: str | None,
        placement: txn_clock.Placement,
        hold_return: bool = False,
    ) -> None:
        self.db = db
        self.txn = txn
        self.registry = registry
        self.now = now
        self.reader_key = reader_key
        self.placement = placement
        # Where the ledger puts it (hub.ledger.txn_clock): loans open and close at this moment.
        self.at = time_text(placement.at)
        # Offline txns are judged at the moment they happened (SIP2: original txn date),
        # as the hub places it.
        self.when = now if txn.mode == "online" else placement.at
        self.hold_return = hold_return  # a return staff must confirm: the loan stays open
        self.due_capped = False  # an offline due date beyond the rules was cut to them

    def apply(self) -> messages.Ack:
        item = queries.item(self.db, self.txn.item, for_update=True)
        if self.txn.kind == "loan":
            return self._loan(item)
        if self.txn.kind == "return":
            return self._return(item)
        return self._renew(item)

    # -- outcomes --
    def _ack(self, due: datetime | None = None, exception: str | None = None) -> messages.Ack:
        return messages.Ack(txn_id=self.txn.txn_id, result="committed", due=due, exception=exception)

    def _refuse(self, reason: str, due: datetime | None = None) -> messages.Ack:
        """Online: the kiosk must not have done it. Offline: it already happened, so it is
        committed and kept for staff as an exception."""
        if self.txn.mode == "online":
            return messages.Ack(txn_id=self.txn.txn_id, result="rejected", reason=reason)
        self._exception(reason)
        return self._ack(due=due, exception=reason)

    def _exception(self, reason: str) -> None:
        _record_exception(self.db, self.txn, reason, self.now)

    def _offline_due(self, limit: datetime | None) -> datetime | None:
        """The due date an offline txn keeps: the one the reader was shown, capped at the
        rule's `limit` (`_flag_out_of_bounds` then keeps the txn for staff)."""
        due = self.txn.due
        if due is None or limit is None or _aware(due) <= limit:
            return due
        self.due_capped = True
        return limit

    # -- loans --
    def _loan(self, item: ItemRecord | None) -> messages.Ack:
        if self.reader_key is None:
            return self._refuse("card_required")
        current = queries.active_loan_for_item(self.db, self.txn.item)
        if current is not None and current.card_hash == self.reader_key:
            # A double scan (or a journal replay under a new id) never makes two loans.
            return self._ack(due=current.due)
        reader = queries.reader_by_hash(self.db, self.reader_key)
        loans = queries.active_loans(self.db, self.reader_key)
        decision = rules.checkout_decision(
            self.registry, reader, item, self.txn.library_id, len(loans), self.when, reader_hash=self.reader_key
        )
        if decision.allowed:
            due = decision.due
            if self.txn.mode == "offline" and self.txn.due is not None:
                # The date the reader was shown offline is the promise (within the rules).
                due = self._offline_due(self._loan_limit())
            assert item is not None and due is not None
            self._open_loan(item, due)
            return self._ack(due=due)
        reason = decision.reason_code or "refused"
        if self.txn.mode == "offline" and item is not None and current is None:
            # The reader walked out with the book: the ledger follows it, staff follow up.
            due = self._offline_due(self._loan_limit()) or decision.due or (self.when + timedelta(days=30))
            self._open_loan(item, due)
            return self._refuse(reason, due=due)
        return self._refuse(reason)

    def _loan_limit(self) -> datetime | None:
        if self.txn.card is None:
            return None
        return txn_checks.loan_due_limit(self.registry, self.txn.card.scheme, self.placement.due_from)

    def _open_loan(self, item: ItemRecord, due: datetime) -> None:
        self.db.execute(
            "INSERT INTO loans (item, card_hash, opened_at, due, renewals, txn_id) VALUES (?, ?, ?, ?, 0, ?)",
            (item.barcode, self.reader_key, self.at, time_text(due), self.txn.txn_id),
        )
        hold_for = None if item.hold_for == self.reader_key else item.hold_for
        self.db.execute(
            "UPDATE items SET state = 'on_loan', hold_for = ? WHERE barcode = ?", (hold_for, item.barcode)
        )
        self.db.execute(
            "UPDATE holds SET state = 'fulfilled' WHERE item = ? AND card_hash = ? AND state IN ('waiting', 'ready')",
            (item.barcode, self.reader_key),
        )

    # -- returns --
    def _return(self, item: ItemRecord | None) -> messages.Ack:
        if item is None:
            # Returns are always taken; an unknown book is for staff to identify.
            self._exception("item_unknown")
            return self._ack(exception="item_unknown")
        if self.hold_return:
            return self._ack()  # the book's state and loan stay as they were, for staff
        self.db.execute(
            "UPDATE loans SET closed_at = ?, closed_by = ? WHERE item = ? AND closed_at IS NULL",
            (self.at, self.txn.txn_id, item.barcode),
        )
        hold = queries.waiting_hold(self.db, item.barcode)
        said = self._route_said(item, hold)
        route = _diverted(self.txn, item, said, self.registry)
        if route.route == "hold" and hold is not None and hold[1] == route.library_id:
            self.db.execute(
                "UPDATE items SET state = 'on_hold', hold_for = ? WHERE barcode = ?", (hold[0], item.barcode)
            )
            self.db.execute(
                "UPDATE holds SET state = 'ready' WHERE item = ? AND card_hash = ? AND state = 'waiting'",
                (item.barcode, hold[0]),
            )
        elif route.route == "hold":
            # In the hold bin for no hold of the ledger's (the kiosk's offline rule, or a
            # member's system): kept on the hold shelf, lent to nobody until staff decide.
            self.db.execute("UPDATE items SET state = 'on_hold', hold_for = NULL WHERE barcode = ?", (item.barcode,))
        elif route.route == "transfer":
            self.db.execute(
                "UPDATE items SET state = 'in_transit', hold_for = NULL WHERE barcode = ?", (item.barcode,)
            )
            self.db.execute(
                "INSERT INTO transfers (item, from_library, to_library, at, txn_id) VALUES (?, ?, ?, ?, ?)",
                (item.barcode, self.txn.library_id, route.library_id, self.at, self.txn.txn_id),
            )
        else:
            self.db.execute(
                "UPDATE items SET state = 'on_shelf', hold_for = NULL WHERE barcode = ?", (item.barcode,)
            )
        if route.route != said.route:
            detail = (
                f"route corrected: the chute's diverter sent it {_route_words(route)}, the hub would"
                f" have sent it {_route_words(said)}; the ledger follows the diverter"
            )
            _record_exception(self.db, self.txn, ROUTE_CORRECTED, self.now, detail)
            return self._ack(exception=ROUTE_CORRECTED)
        return self._ack()

    def _route_said(self, item: ItemRecord, hold: tuple[str, str] | None) -> rules.Route:
        """Where the hub would send the book now: what its member's system answered to
        this return's live 09 (hub/ledger/ils_queue.py `live_route`), else the hub's rules."""
        if self.txn.mode == "online":
            live = ils_queue.live_route(self.db, item.barcode, self.now)
            if live is not None:
                return live
        return rules.route_return(self.registry, item, self.txn.library_id, hold[1] if hold else None)

    # -- renewals --
    def _renew(self, item: ItemRecord | None) -> messages.Ack:
        if self.reader_key is None:
            return self._refuse("card_required")
        current = queries.active_loan_for_item(self.db, self.txn.item)
        if item is None or current is None or current.card_hash != self.reader_key:
            return self._refuse("not_on_loan")
        reader = queries.reader_by_hash(self.db, self.reader_key)
        hold = queries.waiting_hold(self.db, item.barcode)
        hold_waiting = hold is not None and hold[0] != self.reader_key
        decision = rules.renew_decision(
            self.registry, reader, item, current.due, current.renewals, self.when, hold_waiting
        )
        due = decision.due
        if self.txn.mode == "offline" and self.txn.due is not None:
            assert self.txn.card is not None  # reader_key came from it
            due = self._offline_due(
                txn_checks.renew_due_limit(
                    self.registry, self.txn.card.scheme, self.placement.due_from, _aware(current.due)
                )
            )
        if decision.allowed or (self.txn.mode == "offline" and due is not None):
            assert due is not None
            self.db.execute(
                "UPDATE loans SET due = ?, renewals = renewals + 1 WHERE item = ? AND closed_at IS NULL",
                (time_text(due), item.barcode),
            )
            if decision.allowed:
                return self._ack(due=due)
            return self._refuse(decision.reason_code or "refused", due=due)
        return self._refuse(decision.reason_code or "refused")


def _diverted(txn: messages.Txn, item: ItemRecord, said: rules.Route, registry: Registry) -> rules.Route:
    """The route the ledger records for a return: the one the chute's diverter used
    (`Txn.route`; the book is physically there), with its library from the route the hub
    said when the two agree. A transfer the hub would not make goes to the book's owner
    by its barcode, else its home. A txn without a route (an older kiosk) takes `said`."""
    used = txn.route
    if used is None or used == said.route:
        return said
    if used == "transfer":
        owner = registry.member_for_barcode(item.barcode)
        target = owner.id if owner is not None and owner.id != txn.library_id else item.home_library
        return rules.Route("transfer", target)
    return rules.Route(used, txn.library_id)


def _route_words(route: rules.Route) -> str:
    """A route as staff read it in a summary: "in transit to east", "to the hold shelf at capital"."""
    if route.route == "transfer":
        return f"in transit to {route.library_id}"
    if route.route == "hold":
        return f"to the hold shelf at {route.library_id}"
    return f"to the shelf at {route.library_id}"


def _aware(moment: datetime) -> datetime:
    """A naive timestamp is read as UTC, as `time_text` stores it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
