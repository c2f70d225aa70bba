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

What one kiosk may leave waiting is bounded (hub/ledger/order_caps.py, `OrderCaps`): a txn over
the parked cap, or opening one epoch too many in a day, raises `OverCap` before anything
of it is written; and `release_stale` moves parked txns older than the configured age on
to staff, so a gap that never fills does not hold the kiosk's order (or the table) for
ever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract import messages
from hub.ledger import order_caps
from hub.ledger.ledger_sql import Database, time_text
from hub.ledger.order_caps import OrderCaps

Apply = Callable[[messages.Txn], messages.Ack]


def commit_in_order(
    db: Database,
    txn: messages.Txn,
    now: datetime,
    apply: Apply,
    repeat_ack: Callable[[str], messages.Ack | None],
    caps: OrderCaps | None = None,
) -> list[messages.Ack]:
    """Inside an open write transaction: the acks to send for `txn` (none while it is
    parked; it and the parked rows it released, in order, once it applies). `apply`
    answers a txn already in the ledger with its first ack. Raises `OverCap` (nothing
    of `txn` written) when `caps` refuse it."""
    if txn.seq is None or txn.epoch is None:
        return [apply(txn)]
    epoch, last_seq = _lock_order(db, txn.kiosk_id, txn.epoch)
    earlier, opens_epoch, expected = _judge(db, txn, epoch, last_seq, now, caps or OrderCaps(), repeat_ack)
    if earlier is not None:
        return [earlier]
    if opens_epoch:
        order_caps.count_epoch(db, txn, now)
    if txn.seq > expected:
        _park(db, txn, now)
        return []
    acks = [apply(txn)]
    last = max(txn.seq, expected - 1)
    acks += _release_successors(db, txn.kiosk_id, txn.epoch, last, apply)
    return acks


def check_caps(
    db: Database,
    txn: messages.Txn,
    now: datetime,
    repeat_ack: Callable[[str], messages.Ack | None],
    caps: OrderCaps | None = None,
) -> None:
    """Outside any transaction, before `commit_in_order`: raise `OverCap` when `caps`
    refuse `txn`, the judgement `commit_in_order` makes again under its lock. So a flood
    of refused txns costs the ledger reads, never a write."""
    if txn.seq is None or txn.epoch is None:
        return
    row = db.query_one("SELECT epoch, last_seq FROM kiosk_order WHERE kiosk_id = ?", (txn.kiosk_id,))
    epoch, last_seq = (str(row[0]), int(row[1])) if row is not None else (txn.epoch, 0)
    _judge(db, txn, epoch, last_seq, now, caps or OrderCaps(), repeat_ack)


def _judge(
    db: Database,
    txn: messages.Txn,
    epoch: str,
    last_seq: int,
    now: datetime,
    caps: OrderCaps,
    repeat_ack: Callable[[str], messages.Ack | None],
) -> tuple[messages.Ack | None, bool, int]:
    """Where `txn` stands in its kiosk's order (`epoch`, `last_seq`): (its first ack when
    the ledger already holds it and the order would not apply it, whether it opens an
    epoch new to the hub, the seq the order applies next). Raises `OverCap`."""
    assert txn.seq is not None and txn.epoch is not None
    opens_epoch = (epoch != txn.epoch or last_seq == 0) and not order_caps.epoch_known(db, txn.kiosk_id, txn.epoch)
    if opens_epoch:
        earlier = repeat_ack(txn.txn_id)  # an old journal's txn, already in the ledger
        if earlier is not None:
            return earlier, False, 0
        order_caps.epoch_room(db, txn, now, caps)
    expected = max((last_seq if epoch == txn.epoch else 0) + 1, txn.floor or 1)
    if txn.seq > expected:
        earlier = repeat_ack(txn.txn_id)  # applied under an epoch since replaced
        if earlier is not None:
            return earlier, False, expected
        order_caps.make_room(db, txn, caps)
    return None, opens_epoch, expected


def release_stale(
    db: Database,
    kiosk_id: str,
    epoch: str,
    up_to_seq: int,
    apply: Apply,
    keep_for_staff: Callable[[messages.Txn, messages.Ack], messages.Ack],
) -> list[messages.Ack]:
    """Inside an open write transaction: apply every parked txn of `kiosk_id`'s `epoch`
    up to `up_to_seq`, in order, each passed through `keep_for_staff` (which records the
    staff exception) though its predecessors never came; when `epoch` is the kiosk's
    current one its order then goes on from there, releasing the parked txns that now
    follow without a gap (applied as usual). The gap itself is left behind: a missing
    txn that still arrives later is applied on arrival, like any txn behind its
    kiosk's order. The acks to send, in order."""
    current, last_seq = _lock_order(db, kiosk_id, epoch)
    rows = db.query(
        "DELETE FROM parked WHERE kiosk_id = ? AND epoch = ? AND seq <= ? RETURNING seq, payload",
        (kiosk_id, epoch, up_to_seq),
    )
    acks = []
    top = 0
    for seq, payload in sorted(rows):
        txn = messages.Txn.model_validate_json(payload)
        acks.append(keep_for_staff(txn, apply(txn)))
        top = max(top, int(seq))
    if current == epoch and top > 0:
        acks += _release_successors(db, kiosk_id, epoch, max(last_seq, top), apply)
    return acks


def stale_parked(db: Database, older_than: datetime) -> list[tuple[str, str, int]]:
    """(kiosk_id, epoch, highest seq) of every kiosk epoch with a txn parked before
    `older_than`."""
    rows = db.query(
        "SELECT kiosk_id, epoch, max(seq) FROM parked WHERE parked_at < ? GROUP BY kiosk_id, epoch ORDER BY kiosk_id",
        (time_text(older_than),),
    )
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def _release_successors(db: Database, kiosk_id: str, epoch: str, last: int, apply: Apply) -> list[messages.Ack]:
    """Apply the parked txns that follow `last` without a gap; record where the order is."""
    acks = []
    while (successor := _unpark(db, kiosk_id, epoch, last + 1)) is not None:
        last += 1
        acks.append(apply(successor))
    _set_last(db, kiosk_id, epoch, last)
    return acks


def _lock_order(db: Database, kiosk_id: str, epoch: str) -> tuple[str, int]:
    """The kiosk's order row (epoch, last applied seq), made for `epoch` when the kiosk
    has none; one statement that also locks it (PostgreSQL: the upsert's row lock;
    SQLite: one writer anyway)."""
    row = db.query_one(
        "INSERT INTO kiosk_order (kiosk_id, epoch, last_seq) VALUES (?, ?, 0)"
        " ON CONFLICT (kiosk_id) DO UPDATE SET kiosk_id = excluded.kiosk_id"
        " RETURNING epoch, last_seq",
        (kiosk_id, epoch),
    )
    assert row is not None
    return str(row[0]), int(row[1])


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
