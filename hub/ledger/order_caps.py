"""Bounds on what one kiosk may leave waiting in its order (hub/ledger/ordering.py): how many
of its txns may be parked, how many journal epochs it may open in a day, how long a
parked txn may wait. Issue 16, finding 9: without them one kiosk filled `parked` with
3,000 txns, each under a new epoch and behind a gap, never acked and never expiring.

What a caller may rely on:

- `epoch_room` and `make_room` only read, and refuse by raising `OverCap`: hub/ledger/ordering.py
  asks them once before its write transaction (so refusing a flood costs no write) and
  again under the kiosk's lock; the caller answers as `OverCap.ack` says and raises the
  kiosk's `over_cap` flag (hub/worker/intake.py, once per burst).
- Over the parked cap there is **no ack** (`ack` None): the kiosk sends the txn again
  after its resend interval, by which time the gap before it has usually filled. A
  kiosk's journal holds the txn meanwhile, so nothing is lost and `parked` stays bounded.
- Over the epoch cap the txn is **rejected** (`epochs_over_cap`): a kiosk does not
  replace its journal 20 times a day; the kiosk keeps the rejected row for staff.
- An epoch is counted the first time one of its txns reaches the hub; the kiosk's
  current epoch and a txn already in the ledger are never refused.
See docs/ordering.md, "Bounds".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contract import messages
from hub.ledger.ledger_sql import Database, time_text

PARKED_FULL = "parked_full"
EPOCHS_OVER_CAP = "epochs_over_cap"
PARKED_TOO_LONG = "parked_too_long"  # the staff exception of a parked txn swept out
EPOCH_DAY = timedelta(days=1)  # epochs are counted over the last day, rolling


@dataclass(frozen=True)
class OrderCaps:
    """The bounds (`[hub] max_parked_per_kiosk`, `max_epochs_per_day`,
    `parked_max_age_h`); the defaults are far above what a working kiosk reaches
    (a kiosk has at most its outbox window, 100 rows, in flight; one epoch per journal)."""

    max_parked_per_kiosk: int = 500
    max_epochs_per_day: int = 20
    parked_max_age: timedelta = timedelta(hours=24)


class OverCap(Exception):
    """A txn refused by a cap: `reason` (`parked_full`, `epochs_over_cap`), `detail`
    for staff (counts and ids only), and `ack`, the answer to send (None: none at all)."""

    def __init__(self, reason: str, detail: str, ack: messages.Ack | None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.ack = ack


def epoch_known(db: Database, kiosk_id: str, epoch: str) -> bool:
    return db.query_one("SELECT 1 FROM kiosk_epochs WHERE kiosk_id = ? AND epoch = ?", (kiosk_id, epoch)) is not None


def epoch_room(db: Database, txn: messages.Txn, now: datetime, caps: OrderCaps) -> None:
    """Raise OverCap (a rejection) when `txn.epoch`, new to the hub, would be one more
    than `max_epochs_per_day` its kiosk opened in the last day."""
    opened = int(
        db.scalar(
            "SELECT count(*) FROM kiosk_epochs WHERE kiosk_id = ? AND first_at > ?",
            (txn.kiosk_id, time_text(now - EPOCH_DAY)),
        )
        or 0
    )
    if opened >= caps.max_epochs_per_day:
        detail = f"{EPOCHS_OVER_CAP}: {opened} journal epochs opened in a day (cap {caps.max_epochs_per_day})"
        ack = messages.Ack(txn_id=txn.txn_id, result="rejected", reason=EPOCHS_OVER_CAP)
        raise OverCap(EPOCHS_OVER_CAP, detail, ack)


def count_epoch(db: Database, txn: messages.Txn, now: datetime) -> None:
    """Count `txn.epoch` as one its kiosk opened now (inside the caller's write)."""
    db.execute(
        "INSERT INTO kiosk_epochs (kiosk_id, epoch, first_at) VALUES (?, ?, ?) ON CONFLICT (kiosk_id, epoch) DO NOTHING",
        (txn.kiosk_id, txn.epoch, time_text(now)),
    )


def make_room(db: Database, txn: messages.Txn, caps: OrderCaps) -> None:
    """Raise OverCap (no ack) when `txn` would be one parked txn too many for its kiosk;
    a txn already parked (a resend) takes no more room."""
    parked = int(db.scalar("SELECT count(*) FROM parked WHERE kiosk_id = ?", (txn.kiosk_id,)) or 0)
    if parked < caps.max_parked_per_kiosk:
        return
    already = db.query_one(
        "SELECT 1 FROM parked WHERE kiosk_id = ? AND epoch = ? AND seq = ?", (txn.kiosk_id, txn.epoch, txn.seq)
    )
    if already is None:
        detail = f"{PARKED_FULL}: {parked} txns waiting for a predecessor (cap {caps.max_parked_per_kiosk})"
        raise OverCap(PARKED_FULL, detail, None)


def forget_old_epochs(db: Database, now: datetime) -> int:
    """Drop the epochs counted more than two days ago that nothing refers to any more
    (not the kiosk's current order, no parked txn), so the table stays bounded; one
    that comes back later counts as new again. Inside the caller's write transaction."""
    return db.execute(
        "DELETE FROM kiosk_epochs WHERE first_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM kiosk_order o WHERE o.kiosk_id = kiosk_epochs.kiosk_id"
        " AND o.epoch = kiosk_epochs.epoch)"
        " AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.kiosk_id = kiosk_epochs.kiosk_id"
        " AND p.epoch = kiosk_epochs.epoch)",
        (time_text(now - 2 * EPOCH_DAY),),
    )
