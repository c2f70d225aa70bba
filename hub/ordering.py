"""Each kiosk's transactions are applied strictly in its journal's order.

A txn carries its place in its kiosk's journal (`seq` within `epoch`) and the oldest row
its kiosk still held unacked when it sent it (`floor`). The hub keeps, per kiosk, the last
`seq` it applied (`kiosk_order`). In one database transaction, with that row locked:

- a txn already in the ledger is answered with its first ack ("duplicate");
- the txn the kiosk's order expects next (`last + 1`, or `floor` when the kiosk says the
  rows before it were already committed, or a new epoch began) is applied, and then every
  parked txn that now follows without a gap, in order, by whichever worker got here;
- a txn that arrives ahead of a missing predecessor is parked (durably, in `parked`) and
  not acked: the kiosk's outbox resends what it has not seen acked, oldest first, so the
  gap fills, and the worker that fills it applies and acks the parked rows too.

So the ledger never applies a kiosk's row before the rows the kiosk recorded earlier,
however the broker spreads them across workers or restarts drop them. A txn without
`seq` (an older kiosk) is applied on arrival, as before. See docs/ordering.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract import messages
from hub.ledger_sql import Database, time_text

Apply = Callable[[messages.Txn], messages.Ack]


def commit_in_order(
    db: Database,
    txn: messages.Txn,
    now: datetime,
    apply: Apply,
    repeat_ack: Callable[[str], messages.Ack | None],
) -> list[messages.Ack]:
    """Inside an open write transaction: the acks to send for `txn` (none while it is
    parked; it and the parked rows it released, in order, once it applies). `apply`
    answers a txn already in the ledger with its first ack."""
    if txn.seq is None or txn.epoch is None:
        return [apply(txn)]
    expected = _next_expected(db, txn)
    if txn.seq > expected:
        earlier = repeat_ack(txn.txn_id)  # applied under an epoch since replaced
        if earlier is not None:
            return [earlier]
        _park(db, txn, now)
        return []
    acks = [apply(txn)]
    last = max(txn.seq, expected - 1)
    while (successor := _unpark(db, txn.kiosk_id, txn.epoch, last + 1)) is not None:
        last += 1
        acks.append(apply(successor))
    _set_last(db, txn.kiosk_id, txn.epoch, last)
    return acks


def _next_expected(db: Database, txn: messages.Txn) -> int:
    """The seq this kiosk's order applies next; one statement that also locks the
    kiosk's order row (PostgreSQL: the upsert's row lock; SQLite: one writer anyway)."""
    row = db.query_one(
        "INSERT INTO kiosk_order (kiosk_id, epoch, last_seq) VALUES (?, ?, 0)"
        " ON CONFLICT (kiosk_id) DO UPDATE SET kiosk_id = excluded.kiosk_id"
        " RETURNING epoch, last_seq",
        (txn.kiosk_id, txn.epoch),
    )
    assert row is not None
    epoch, last_seq = row
    last = int(last_seq) if epoch == txn.epoch else 0
    return max(last + 1, txn.floor or 1)


def _set_last(db: Database, kiosk_id: str, epoch: str, last: int) -> None:
    db.execute(
        "UPDATE kiosk_order SET epoch = ?, last_seq = ? WHERE kiosk_id = ?", (epoch, last, kiosk_id)
    )


def _park(db: Database, txn: messages.Txn, now: datetime) -> None:
    db.execute(
        "INSERT INTO parked (kiosk_id, epoch, seq, txn_id, payload, parked_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kiosk_id, epoch, seq) DO NOTHING",
        (txn.kiosk_id, txn.epoch, txn.seq, txn.txn_id, messages.encode(txn).decode(), time_text(now)),
    )


def _unpark(db: Database, kiosk_id: str, epoch: str, seq: int) -> messages.Txn | None:
    row = db.query_one(
        "DELETE FROM parked WHERE kiosk_id = ? AND epoch = ? AND seq = ? RETURNING payload",
        (kiosk_id, epoch, seq),
    )
    return None if row is None else messages.Txn.model_validate_json(row[0])


def parked_count(db: Database) -> int:
    """Txns waiting for a predecessor (fleet status shows them)."""
    return int(db.scalar("SELECT count(*) FROM parked") or 0)
