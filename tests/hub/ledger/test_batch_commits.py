"""Group commit (hub/ledger/batch_commits.py): txns committed together in one
transaction, each in its own savepoint, answer exactly as they would alone; one bad txn
undoes only itself; a batch whose COMMIT fails keeps nothing, and its resend commits all.
On SQLite and PostgreSQL alike."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contract import messages
from hub.ledger.batch_commits import BatchTxn, TxnOutcome
from hub.ledger.ils_door import IlsLedger
from hub.ledger.ledger import Ledger
from hub.ledger.ledger_sql import Database, TransactionLost
from hub.ledger.order_caps import PARKED_FULL, OrderCaps
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import add_item, add_reader, card
from tests.hub.ledger.test_ordering import Kiosk, holder

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def a_return(item: str, kiosk_id: str = "kb") -> messages.Txn:
    return messages.Txn(
        txn_id=f"{kiosk_id}-{secrets.token_hex(8)}", kiosk_id=kiosk_id, library_id="capital",
        kind="return", item=item, at=NOW, mode="offline",
    )  # fmt: skip


def batch(*txns: messages.Txn) -> list[BatchTxn]:
    return [BatchTxn(txn, NOW) for txn in txns]


def results(outcome: TxnOutcome) -> list[tuple[str, str]]:
    return [(ack.txn_id, ack.result) for ack in outcome.acks]


def books(ledger: Ledger, registry: Registry, n: int, first: int = 1) -> list[str]:
    return [add_item(ledger, registry, "capital", serial) for serial in range(first, first + n)]


def failing_for(txn_id: str, error: Exception) -> Any:
    """A follow-up (the ILS hook, inside the txn's commit) that raises for one txn."""

    def follow_up(_ledger: IlsLedger, txn: messages.Txn, ack: messages.Ack, _now: datetime) -> messages.Ack:
        if txn.txn_id == txn_id:
            raise error
        return ack

    return follow_up


def test_a_batch_answers_every_txn_as_if_it_came_alone_in_one_transaction(
    ledger: Ledger, registry: Registry
) -> None:
    txns = [a_return(book) for book in books(ledger, registry, 3)]
    outcomes = ledger.commit_batch(batch(*txns), registry)
    assert [results(o) for o in outcomes] == [[(t.txn_id, "committed")] for t in txns]
    assert all(o.went_through for o in outcomes)
    assert doors.txn_rows(ledger) == 3


def test_the_middle_txn_raising_undoes_only_itself_and_its_resend_commits_it(
    ledger: Ledger, registry: Registry
) -> None:
    first, middle, last = (a_return(book) for book in books(ledger, registry, 3))
    broken = failing_for(middle.txn_id, RuntimeError("the member's system hook broke"))
    outcomes = ledger.commit_batch(batch(first, middle, last), registry, follow_up=broken)

    assert results(outcomes[0]) == [(first.txn_id, "committed")]
    assert isinstance(outcomes[1].error, RuntimeError) and outcomes[1].acks == []
    assert results(outcomes[2]) == [(last.txn_id, "committed")]
    assert [doors.txn_rows(ledger, t.txn_id) for t in (first, middle, last)] == [1, 0, 1]

    [again] = ledger.commit_batch(batch(middle), registry)  # the kiosk sends it again
    assert results(again) == [(middle.txn_id, "committed")]


def test_a_duplicate_inside_a_batch_is_answered_duplicate_and_kept_once(ledger: Ledger, registry: Registry) -> None:
    [book] = books(ledger, registry, 1)
    txn = a_return(book)
    outcomes = ledger.commit_batch(batch(txn, txn), registry)
    assert [results(o) for o in outcomes] == [[(txn.txn_id, "committed")], [(txn.txn_id, "duplicate")]]
    assert doors.txn_rows(ledger, txn.txn_id) == 1


def test_two_txns_of_one_kiosk_out_of_order_in_one_batch_apply_in_journal_order(
    ledger: Ledger, registry: Registry
) -> None:
    reader = card("bj-joint", 1)
    add_reader(ledger, reader)
    [book] = books(ledger, registry, 1)
    k = Kiosk()
    loan = k.txn("loan", book, reader, NOW - timedelta(minutes=10))
    back = k.txn("return", book, None, NOW - timedelta(minutes=5))

    parked, released = ledger.commit_batch(batch(back, loan), registry)
    assert parked.acks == [] and parked.went_through, "the return waits for its loan"
    assert results(released) == [(loan.txn_id, "committed"), (back.txn_id, "committed")]
    assert holder(ledger, book) is None, "the return was applied before the loan"
    assert doors.txn_rows(ledger) == 2
    assert ledger.commit(back, registry, NOW)[0].result == "duplicate"


def test_a_txn_over_its_kiosks_parked_cap_is_refused_alone(ledger: Ledger, registry: Registry) -> None:
    one, two = (a_return(book, "kb") for book in books(ledger, registry, 2))
    k = Kiosk("kc")
    k.seq = 1  # seq 1 never comes: seq 2 parks, seq 3 is over the cap of one
    waits, over = k.txn("return", one.item, None, NOW), k.txn("return", two.item, None, NOW)
    outcomes = ledger.commit_batch(batch(one, waits, over, two), registry, caps=OrderCaps(max_parked_per_kiosk=1))

    assert results(outcomes[0]) == [(one.txn_id, "committed")]
    assert outcomes[1].acks == [] and outcomes[1].went_through  # parked
    assert outcomes[2].refusal is not None and outcomes[2].refusal.reason == PARKED_FULL
    assert results(outcomes[3]) == [(two.txn_id, "committed")]
    assert doors.txn_rows(ledger) == 2


def test_a_lost_unique_index_race_is_tried_again_in_a_fresh_savepoint(ledger: Ledger, registry: Registry) -> None:
    """Another worker committed a row this txn's insert collides with a moment before:
    the txn is tried again at once, in its own savepoint, and commits once."""
    first, raced = (a_return(book) for book in books(ledger, registry, 2))
    tries: list[str] = []

    def loses_once(_ledger: IlsLedger, txn: messages.Txn, ack: messages.Ack, _now: datetime) -> messages.Ack:
        if txn.txn_id == raced.txn_id:
            tries.append(txn.txn_id)
            if len(tries) == 1:
                raise ledger.db.IntegrityError("duplicate key value violates unique constraint")
        return ack

    outcomes = ledger.commit_batch(batch(first, raced), registry, follow_up=loses_once)
    assert [results(o) for o in outcomes] == [[(first.txn_id, "committed")], [(raced.txn_id, "committed")]]
    assert len(tries) == 2 and doors.txn_rows(ledger) == 2


def test_a_lock_conflict_sets_the_txn_aside_and_commits_it_alone_after_the_batch(
    ledger: Ledger, registry: Registry, db_url: str
) -> None:
    """A deadlock or lock timeout inside a batch is not tried again there (the batch's own
    locks are part of it): the txn is committed alone once its neighbours are committed."""
    first, conflicted, last = (a_return(book) for book in books(ledger, registry, 3))
    seen_committed: list[int] = []

    def conflicts_once(_ledger: IlsLedger, txn: messages.Txn, ack: messages.Ack, _now: datetime) -> messages.Ack:
        if txn.txn_id == conflicted.txn_id:
            if not seen_committed:
                seen_committed.append(-1)
                raise ledger.db.RetryableError[0]("deadlock detected")
            with Ledger.open(db_url) as other:  # what another connection sees: committed rows only
                seen_committed.append(doors.txn_rows(other))
        return ack

    outcomes = ledger.commit_batch(batch(first, conflicted, last), registry, follow_up=conflicts_once)
    assert [results(o) for o in outcomes] == [[(t.txn_id, "committed")] for t in (first, conflicted, last)]
    assert seen_committed == [-1, 2], "tried again only once its two neighbours were committed"
    assert doors.txn_rows(ledger) == 3


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_workers_batching_the_same_txns_in_opposite_orders_each_commit_once(
    registry: Registry, db_url: str
) -> None:
    """A real deadlock: two workers (two connections) hold one txn each and want the
    other's. PostgreSQL kills one statement; that worker commits the rest, the other goes
    on, and the set-aside txn is answered "duplicate": nothing failed, nothing twice."""
    with Ledger.open(db_url) as a, Ledger.open(db_url) as b:
        one, two = a_return(add_item(a, registry, "capital", 1), "ka"), a_return(add_item(a, registry, "capital", 2), "kb")
        both_hold_one = threading.Barrier(2, timeout=10)
        waited: set[str] = set()

        def holds_then_waits(worker: str) -> Any:
            def follow_up(_l: IlsLedger, _t: messages.Txn, ack: messages.Ack, _n: datetime) -> messages.Ack:
                if worker not in waited:  # each worker's first txn, its row inserted and locked
                    waited.add(worker)
                    both_hold_one.wait()
                return ack

            return follow_up

        answers: dict[str, list[TxnOutcome]] = {}
        runs = [
            threading.Thread(target=lambda: answers.update(a=a.commit_batch(batch(one, two), registry,
                                                                               follow_up=holds_then_waits("a")))),
            threading.Thread(target=lambda: answers.update(b=b.commit_batch(batch(two, one), registry,
                                                                               follow_up=holds_then_waits("b")))),
        ]  # fmt: skip
        for run in runs:
            run.start()
        for run in runs:
            run.join(30)
        assert set(answers) == {"a", "b"}, "both batches returned"
        outcomes = [*answers["a"], *answers["b"]]
        assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
        told = [(ack.txn_id, ack.result) for o in outcomes for ack in o.acks]
        for txn in (one, two):
            assert sorted(r for t, r in told if t == txn.txn_id) == ["committed", "duplicate"], told
        assert doors.txn_rows(a) == 2


class CommitFailed(Exception):
    """The database refused the COMMIT (not a lock timeout: nothing tries it again)."""


@contextmanager
def commit_fails(ledger: Ledger, times: int = 1) -> Iterator[None]:
    """The ledger's next `times` write transactions fail at their COMMIT: rolled back."""
    db = ledger.db
    real = type(db).write
    left = [times]

    @contextmanager
    def write(self: Database) -> Iterator[Database]:
        with real(self):
            yield self
            if left[0] > 0:
                left[0] -= 1
                raise CommitFailed("COMMIT refused")

    db.write = write.__get__(db)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del db.write


def test_a_batch_whose_commit_fails_keeps_nothing_and_its_resend_commits_every_txn(
    ledger: Ledger, registry: Registry
) -> None:
    txns = [a_return(book) for book in books(ledger, registry, 3)]
    with commit_fails(ledger), pytest.raises(CommitFailed):
        ledger.commit_batch(batch(*txns), registry)
    assert doors.txn_rows(ledger) == 0, "nothing of a batch whose COMMIT failed is kept"

    outcomes = ledger.commit_batch(batch(*txns), registry)
    assert [results(o) for o in outcomes] == [[(t.txn_id, "committed")] for t in txns]


def test_a_transaction_sqlite_rolled_back_by_itself_ends_the_batch(tmp_path: Any) -> None:
    """An error after which SQLite has rolled the whole transaction back (disk full, I/O)
    is not one txn's: the savepoint says so instead of letting the next txns run outside
    any transaction."""
    with Ledger.open(f"sqlite:///{tmp_path}/lost.sqlite") as ledger:
        db = ledger.db
        with pytest.raises(TransactionLost), db.write(), db.savepoint():
            db.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
            db.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
            raise OSError("disk full")
        assert db.scalar("SELECT count(*) FROM meta WHERE key = 'a'") == 0
