"""Group commit: many kiosk txns in one database transaction, so they share one flush.

One write transaction per txn makes the disk's flush the hub's pace under a flood (a
city's kiosks draining their offline backlogs at once): about one fsync per txn on
SQLite (WAL, synchronous=FULL), one WAL flush on PostgreSQL. `commit_batch` commits
the txns that queued up while the previous commit was flushing in ONE write transaction,
each inside its own savepoint, in the order given, and each exactly as
`hub.ledger.commits.commit` commits a txn alone: exactly once, in its kiosk's order
(parked txns released), its caps, bounds and follow-up. A txn sees what the txns before
it in the batch wrote, as it would have seen them committed.

What a caller may rely on:

- One `TxnOutcome` per txn, in the order given: its acks (what `commit` returns: none
  while it is parked; its own, then those of the parked txns it released), or the
  `OverCap` refusal, or the error it raised. A refused or failed txn leaves nothing of
  itself in the ledger, and its batch neighbours are committed all the same.
- Nothing of the batch is durable before `commit_batch` returns: no ack of it may be
  sent earlier. When it raises (the COMMIT failed, or the transaction did not survive
  an error), nothing of the batch was committed: send no ack of it; the kiosks' resends
  commit the txns later, exactly once as always.
- A lost race on a unique index (another worker committed the same txn, or a loan of
  the same book, a moment before) inside one txn is tried again at once in a fresh
  savepoint, a few times, then that txn fails alone: the row now committed decides it.
- A deadlock, a lock timeout or a serialization failure inside one txn is NOT tried
  again inside the batch: the locks the batch already holds are part of the conflict
  (two workers handed the same txns in different orders wait on each other), so a retry
  there meets it again. The txn is set aside and, once the batch has committed and let
  its locks go, committed alone with `hub.ledger.commits.commit` (its own transaction,
  its back-off retries); its outcome is that commit's. A later txn of the same kiosk in
  the batch waits for it, parked, as for any missing predecessor, and is released by it.
- A batch whose transaction cannot begin (the write lock not had in time) is tried
  again whole, as `commit` tries one txn (`hub.ledger.commits.in_write`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contract import messages
from hub.ledger.commits import TxnFollowUp, commit, commit_in_write, in_write, refuse_over_caps
from hub.ledger.ledger_sql import Database, TransactionLost
from hub.ledger.order_caps import OrderCaps, OverCap
from hub.ledger.txn_checks import OfflineBounds
from hub.rules.registry import Registry

_TRIES_PER_TXN = 3  # a lost race is decided by the row now committed: the next try sees it


@dataclass(frozen=True)
class BatchTxn:
    """One txn of a batch, and the hub's time of its receipt (`now` of `commit`)."""

    txn: messages.Txn
    now: datetime


@dataclass(frozen=True)
class TxnOutcome:
    """What became of one txn of a batch: `acks` when it went through (empty while it is
    parked), else the `refusal` of a cap or the `error` it raised (nothing of it kept)."""

    acks: list[messages.Ack] = field(default_factory=list)
    refusal: OverCap | None = None
    error: Exception | None = None

    @property
    def went_through(self) -> bool:
        return self.refusal is None and self.error is None


def commit_batch(
    db: Database,
    batch: Sequence[BatchTxn],
    registry: Registry,
    bounds: OfflineBounds | None = None,
    follow_up: TxnFollowUp | None = None,
    caps: OrderCaps | None = None,
) -> list[TxnOutcome]:
    """Commit `batch` in one write transaction, each txn in its own savepoint (see the
    module doc); one outcome per txn, in order. Raises when the transaction itself fails:
    then nothing of the batch is committed."""
    if not batch:
        return []
    txns = _Committer(db, registry, bounds or OfflineBounds(), follow_up, caps)
    outcomes = in_write(db, lambda: [txns.in_batch(item) for item in batch])
    return [
        txns.alone(item) if outcome is _LOCK_CONFLICT else outcome
        for item, outcome in zip(batch, outcomes, strict=True)
    ]


_LOCK_CONFLICT = TxnOutcome()  # set aside inside the batch; committed alone after it (module doc)


@dataclass(frozen=True)
class _Committer:
    """What every txn of one batch is committed with."""

    db: Database
    registry: Registry
    bounds: OfflineBounds
    follow_up: TxnFollowUp | None
    caps: OrderCaps | None

    def in_batch(self, item: BatchTxn) -> TxnOutcome:
        """One txn in its savepoint: its outcome, or `_LOCK_CONFLICT`; `TransactionLost`
        (the batch's end) propagates."""
        db = self.db
        for attempt in range(_TRIES_PER_TXN):
            try:
                with db.savepoint():
                    refuse_over_caps(db, item.txn, item.now, self.caps)  # reads only, as `commit` judges first
                    return TxnOutcome(acks=commit_in_write(
                        db, item.txn, self.registry, item.now, self.bounds, self.follow_up, self.caps))
            except TransactionLost:
                raise
            except OverCap as refusal:
                return TxnOutcome(refusal=refusal)
            except db.RetryableError:
                return _LOCK_CONFLICT
            except db.IntegrityError as exc:
                if attempt == _TRIES_PER_TXN - 1:
                    return TxnOutcome(error=exc)
            except Exception as exc:  # this txn alone fails; its kiosk sends it again
                return TxnOutcome(error=exc)
        raise AssertionError("unreachable")

    def alone(self, item: BatchTxn) -> TxnOutcome:
        """A txn set aside by a lock conflict, committed in a transaction of its own."""
        try:
            return TxnOutcome(acks=commit(
                self.db, item.txn, self.registry, item.now, self.bounds, self.follow_up, self.caps))
        except OverCap as refusal:
            return TxnOutcome(refusal=refusal)
        except Exception as exc:  # this txn alone fails; its kiosk sends it again
            return TxnOutcome(error=exc)
