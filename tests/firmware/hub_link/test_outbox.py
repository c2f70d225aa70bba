"""The outbox's one resend rule, on a clock the test moves, against a recording connection.

The rule (firmware.hub_link.outbox): an unacked row is published when not in flight,
oldest first, at most `window` in flight; a row in flight is published again when its
ack has not come within `resend_after_s` of its last publish (monotonic clock); a
(re)connect makes every row not-in-flight; only the hub's ack ends a row.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from contract import messages, topics
from contract.messages import Ack, CardRef, Txn
from firmware.core.events import JournalDepth, TxnAcked
from firmware.hub_link.outbox import Backlog, Outbox
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory

KIOSK = "k-outbox"
DAY = 86400.0


def fill(journal: Journal, n: int) -> list[str]:
    factory = TxnIdFactory(KIOSK, journal.last_txn_id())
    ids = []
    for i in range(n):
        txn_id = factory.next_id()
        journal.record(
            Txn(
                txn_id=txn_id,
                kiosk_id=KIOSK,
                library_id="dongcheng",
                kind="loan",
                card=CardRef(scheme="joint", number="0110000012345"),
                item=f"3010100{i:07d}",
                at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
                mode="offline",
            )
        )
        ids.append(txn_id)
    return ids


def ack(conn, txn_id: str) -> None:
    conn.deliver(
        topics.topic(KIOSK, "ack"), messages.encode(Ack(txn_id=txn_id, result="committed"))
    )


def make_outbox(journal: Journal, conn, clock, posted: list[object], **kwargs: object) -> Outbox:
    kwargs.setdefault("resend_after_s", 10.0)
    return Outbox(journal, conn, KIOSK, posted.append, lambda: None, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_rows_go_out_in_journal_order_qos_1_at_most_window_in_flight(
    tmp_path: Path, conn, clock
) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        ids = fill(journal, 5)
        posted: list[object] = []
        outbox = make_outbox(journal, conn, clock, posted, window=2)
        outbox.pump(clock())
        assert conn.txn_ids() == ids[:2]
        assert {(p.topic, p.qos, p.retain) for p in conn.published} == {
            (topics.topic(KIOSK, "txn"), 1, False)
        }
        outbox.pump(clock.advance(1))
        assert conn.txn_ids() == ids[:2], "the window is full until an ack comes"
        ack(conn, ids[1])
        outbox.pump(clock())
        assert conn.txn_ids() == [*ids[:2], ids[2]]
        assert TxnAcked(ids[1], Ack(txn_id=ids[1], result="committed")) in posted
        assert journal.counts()["sent"] == 2 and journal.counts()["acked"] == 1


def test_a_row_is_published_again_only_when_its_ack_is_late_by_resend_after_s(
    tmp_path: Path, conn, clock
) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        a, b = fill(journal, 2)
        outbox = make_outbox(journal, conn, clock, [], resend_after_s=10.0)
        outbox.pump(clock())
        assert conn.txn_ids() == [a, b]
        outbox.pump(clock.advance(9.9))
        assert conn.txn_ids() == [a, b], "no ack yet, but not late yet either"
        ack(conn, a)
        due = outbox.pump(clock.advance(0.1))
        assert conn.txn_ids() == [a, b, b], "b's ack is 10 s late: b goes out again, a is done"
        assert due <= clock() + 10.0
        assert [r.attempts for r in journal.rows_for_item(journal.unacked(1)[0].item)] == [2]


def test_the_wall_clock_and_the_journals_sent_at_play_no_part(tmp_path: Path, conn, clock) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        (a,) = fill(journal, 1)
        journal.mark_sent([a], now=time.time() - 3600)  # as if published an hour ago
        outbox = make_outbox(journal, conn, clock, [])
        outbox.pump(clock())
        outbox.pump(clock.advance(5))
        assert conn.txn_ids() == [a], "published once: in flight for 5 s of its 10"


def test_a_reconnect_makes_every_row_not_in_flight(tmp_path: Path, conn, clock) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        ids = fill(journal, 3)
        outbox = make_outbox(journal, conn, clock, [])
        outbox.pump(clock())
        conn.drop()
        outbox.pump(clock.advance(20))
        assert conn.txn_ids() == ids, "nothing is published while the link is down"
        conn.restore()
        outbox.pump(clock.advance(1))
        assert conn.txn_ids() == ids + ids


def test_only_the_hubs_ack_ends_a_row_and_a_bad_ack_changes_nothing(
    tmp_path: Path, conn, clock
) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        (a,) = fill(journal, 1)
        posted: list[object] = []
        outbox = make_outbox(journal, conn, clock, posted)
        outbox.pump(clock())  # "published": a broker PUBACK is not an ack
        assert journal.depth() == 1
        ack(conn, "01HXUNKNOWN00-k9")
        outbox.pump(clock())
        assert journal.depth() == 1 and not [e for e in posted if isinstance(e, TxnAcked)]
        ack(conn, a)
        outbox.pump(clock())
        assert journal.depth() == 0
        assert [e.txn_id for e in posted if isinstance(e, TxnAcked)] == [a]


def test_a_refused_publish_leaves_the_row_for_the_next_turn(tmp_path: Path, conn, clock) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        (a,) = fill(journal, 1)
        outbox = make_outbox(journal, conn, clock, [])
        conn.refuse = True
        outbox.pump(clock())
        assert conn.txn_ids() == [] and journal.counts()["pending"] == 1
        conn.refuse = False
        outbox.pump(clock.advance(0.1))
        assert conn.txn_ids() == [a]


def test_depth_is_posted_and_the_backlog_reported(tmp_path: Path, conn, clock) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        fill(journal, 3)
        posted: list[object] = []
        outbox = make_outbox(journal, conn, clock, posted)
        outbox.pump(clock())
        assert [e.pending for e in posted if isinstance(e, JournalDepth)] == [3]
        backlog = outbox.backlog()
        assert (backlog.pending, backlog.draining) == (3, True)
        conn.drop()
        assert outbox.backlog().draining is False


def test_acked_rows_older_than_keep_acked_s_are_pruned_and_others_kept(
    tmp_path: Path, conn, clock
) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        old, rejected, recent, newest = fill(journal, 4)
        journal.mark_acked_many(
            [Ack(txn_id=old, result="committed"), Ack(txn_id=rejected, result="rejected")],
            now=time.time() - 3 * DAY,
        )
        journal.mark_acked(Ack(txn_id=recent, result="committed"))
        make_outbox(journal, conn, clock, [], keep_acked_s=None).pump(clock())
        assert journal.counts()["acked"] == 2, "without keep_acked_s nothing is pruned"
        outbox = make_outbox(journal, conn, clock, [], keep_acked_s=2 * DAY)
        due = outbox.pump(clock())
        assert journal.counts() == {
            "pending": 0, "sent": 1, "acked": 1, "rejected": 1, "exception": 0
        }  # fmt: skip
        assert [t.txn_id for t in journal.unacked(10)] == [newest]
        assert due <= clock() + 10.0


def test_backlog_of_a_broken_journal_is_empty(tmp_path: Path, conn, clock) -> None:
    journal = Journal.open(tmp_path / "j.sqlite3")
    journal.close()
    assert make_outbox(journal, conn, clock, []).backlog() == Backlog()


def test_a_vans_day_of_backlog_drains_in_one_reconnect_without_the_resend_clock(
    tmp_path: Path, conn, clock
) -> None:
    """A van back in reach (issue 19 item 5): 250 rows journalled offline, more than one
    window, all go out on the one reconnect as fast as acks come back, each published
    once, with the clock standing still: no row waits for `resend_after_s`."""
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        conn.drop()
        ids = fill(journal, 250)
        outbox = make_outbox(journal, conn, clock, [], window=100)
        outbox.pump(clock())
        assert conn.txn_ids() == []
        conn.restore()
        outbox.pump(clock())
        turns = 0
        while journal.depth() and turns < 10:
            for txn_id in conn.txn_ids()[-100:]:
                ack(conn, txn_id)
            outbox.pump(clock())  # the same instant: only acks move the backlog on
            turns += 1
        assert journal.depth() == 0
        assert conn.txn_ids() == ids, "each row once, in journal order"
        assert turns == 3  # 250 rows through a window of 100: three rounds of acks
