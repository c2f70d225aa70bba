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

What the txn does to loans, books, holds and transfers (a return's route included) is
`TxnEffects`' (hub/ledger/txn_effects.py), applied here once the txn row is in.

Under a flood the worker commits many txns in one database transaction, each in its own
savepoint and each exactly as `commit` would (`commit_in_write`; hub/ledger/batch_commits.py),
so they share one flush.

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
from datetime import datetime
from typing import Any, TypeVar

from contract import messages
from contract.privacy import card_hash
from hub.ledger import (
    item_history,
    kiosk_flags,
    kiosk_presence,
    ordering,
    staff_exceptions,
    txn_checks,
    txn_clock,
    txn_plausibility,
)
from hub.ledger.ils_door import IlsLedger
from hub.ledger.ledger_sql import Database, time_text
from hub.ledger.order_caps import PARKED_TOO_LONG, OrderCaps, forget_old_epochs
from hub.ledger.txn_checks import OfflineBounds
from hub.ledger.txn_effects import TxnEffects, aware, record_exception
from hub.rules.registry import Registry

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    refuse_over_caps(db, txn, now, caps)  # no write to refuse
    return in_write(db, lambda: commit_in_write(db, txn, registry, now, bounds, follow_up, caps))


def refuse_over_caps(db: Database, txn: messages.Txn, now: datetime, caps: OrderCaps | None = None) -> None:
    """`OverCap` when `caps` refuse `txn`, judged with reads only (hub.ledger.ordering.check_caps),
    so a flood of refused txns costs no write."""
    ordering.check_caps(db, txn, now, lambda txn_id: _repeat_ack_of(db, txn_id), caps)


def commit_in_write(
    db: Database,
    txn: messages.Txn,
    registry: Registry,
    now: datetime,
    bounds: OfflineBounds | None = None,
    follow_up: TxnFollowUp | None = None,
    caps: OrderCaps | None = None,
) -> list[messages.Ack]:
    """`commit`'s work inside a write transaction the caller holds (one txn of a group
    commit, hub/ledger/batch_commits.py): the same acks, the same `OverCap`, no retries and
    no transaction of its own."""
    bounds = bounds or OfflineBounds()
    return ordering.commit_in_order(
        db,
        txn,
        now,
        apply=lambda t: _apply(db, t, registry, now, bounds, follow_up),
        repeat_ack=lambda txn_id: _repeat_ack_of(db, txn_id),
        caps=caps,
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

        acks = in_write(db, release)
        if acks:
            log.warning(
                "kiosk %s: txns of journal epoch %s waited over %g h for a predecessor: %d committed,"
                " the stale ones as %s exceptions for staff",
                kiosk_id, epoch, caps.parked_max_age.total_seconds() / 3600, len(acks), PARKED_TOO_LONG,
            )  # fmt: skip
        sent += [(kiosk_id, ack) for ack in acks]
    in_write(db, lambda: forget_old_epochs(db, now))
    return sent


def _keep_swept(db: Database, txn: messages.Txn, ack: messages.Ack, now: datetime) -> messages.Ack:
    """A swept txn, applied though its predecessors never came: an exception row for
    staff, named in its ack when it was committed without one."""
    if ack.result == "duplicate":
        return ack
    record_exception(db, txn, PARKED_TOO_LONG, now)
    if ack.result == "committed" and ack.exception is None:
        ack = ack.model_copy(update={"exception": PARKED_TOO_LONG})
        db.execute("UPDATE txns SET ack_json = ? WHERE txn_id = ?", (messages.encode(ack).decode(), txn.txn_id))
    return ack


def in_write(db: Database, work: Callable[[], T]) -> T:
    """`work()` in one write transaction (one txn, or a batch of them), retried a few times on lock timeouts, deadlocks
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
    received = aware(now)
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
    effects = TxnEffects(db, txn, registry, now, reader_key, placement, verdict.hold_return)
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
        record_exception(db, txn, reason, now)
    if problems and ack.exception is None:
        ack = ack.model_copy(update={"exception": problems[0]})
    return ack


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
    staff_exceptions.record(db, txn_id, kiosk_id, "item_on_loan", summary, now)


def _repeat_ack(row: Any) -> messages.Ack:
    """The stored ack again: a committed txn repeats as "duplicate", a rejected one as
    the same rejection (so the kiosk sees one consistent answer)."""
    result, ack_json = row
    ack = messages.Ack.model_validate_json(ack_json)
    if result == "committed":
        return ack.model_copy(update={"result": "duplicate"})
    return ack


