"""What a committed txn does to the ledger's other tables (`TxnEffects`): a loan opens
(the rules' due date online, the reader's promise within the rules offline), a return
closes the loan and puts the book where the chute's diverter sent it (shelf, hold shelf,
transit), a renewal moves the due date. Refusals are a rejection online and, offline,
a commit kept for staff as an exception (`record_exception`).

A return's route is decided once, when the kiosk asks (`return_route`, hub/worker/answers.py;
for a member's own system its 09) or by the kiosk's offline rule; the chute's diverter
routes the book and the txn says where (`Txn.route`). The ledger records that route (the
book's state, its transfer row), not a second decision: when the hub would route it
otherwise now (what the system's live 09 answered, else `rules.route_return`), the txn
is committed as the diverter routed it and kept for staff as a `route_corrected`
exception naming both routes. A txn without a route (older kiosks) is routed by the
hub's rules, as before.

What a caller may rely on: everything runs inside the caller's write transaction
(hub/ledger/commits.py opens it, records the txn row, and calls `TxnEffects.apply`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract import messages
from hub.ledger import ils_live_checkin, queries, staff_exceptions, txn_checks, txn_clock
from hub.ledger.ledger_sql import Database, time_text
from hub.rules import rules
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord

# A return the chute's diverter routed otherwise than the hub's rules say: the ledger
# follows the diverter (the book is there), staff see both routes (hub/ledger/exception_reasons.py).
ROUTE_CORRECTED = "route_corrected"


def record_exception(db: Database, t: messages.Txn, reason: str, now: datetime, detail: str | None = None) -> None:
    """An exception row for staff about `t`, with a summary naming what it was and where."""
    scheme = t.card.scheme if t.card else "-"
    summary = f"{t.mode} {t.kind} of item {t.item} at {t.library_id} by kiosk {t.kiosk_id}, card scheme {scheme}"
    if detail:
        summary = f"{summary}; {detail}"
    staff_exceptions.record(db, t.txn_id, t.kiosk_id, reason, summary, now)


class TxnEffects:
    """The effects of one txn, inside the database transaction its commit opened
    (hub/ledger/commits.py)."""

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
        record_exception(self.db, self.txn, reason, self.now)

    def _offline_due(self, limit: datetime | None) -> datetime | None:
        """The due date an offline txn keeps: the one the reader was shown, capped at the
        rule's `limit` (`_flag_out_of_bounds` then keeps the txn for staff)."""
        due = self.txn.due
        if due is None or limit is None or aware(due) <= limit:
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
            record_exception(self.db, self.txn, ROUTE_CORRECTED, self.now, detail)
            return self._ack(exception=ROUTE_CORRECTED)
        return self._ack()

    def _route_said(self, item: ItemRecord, hold: tuple[str, str] | None) -> rules.Route:
        """Where the hub would send the book now: what its member's system answered to
        this return's live 09 (hub/ledger/ils_live_checkin.py `live_route`), else the hub's rules."""
        if self.txn.mode == "online":
            live = ils_live_checkin.live_route(self.db, item.barcode, self.now)
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
                    self.registry, self.txn.card.scheme, self.placement.due_from, aware(current.due)
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


def aware(moment: datetime) -> datetime:
    """A naive timestamp is read as UTC, as `time_text` stores it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
