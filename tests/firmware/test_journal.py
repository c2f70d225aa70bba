"""The journal keeps the reader's receipt: on disk before return, in order, never lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.messages import Ack, CardRef, Txn
from firmware.journal import Journal, JournalError
from firmware.txn_ids import TxnIdFactory, parse_time_part
from hal_sim.lazy_disk_mount import LazyDisk

REPO = Path(__file__).resolve().parents[2]


def make_txn(txn_id: str, item: str = "30101000000017", kind: str = "loan") -> Txn:
    return Txn(
        txn_id=txn_id,
        kiosk_id="k1",
        library_id="dongcheng",
        kind=kind,
        card=CardRef(scheme="joint", number="0110000012345"),
        item=item,
        at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        mode="offline",
    )


def ids(n: int) -> list[str]:
    factory = TxnIdFactory("k1", None)
    return [factory.next_id() for _ in range(n)]


def test_the_journal_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    """FULL: every commit fsyncs the WAL, so a recorded row survives a power cut (WAL
    with NORMAL syncs only at checkpoints and can lose the rows the reader was last told;
    tests/e2e/test_power_loss.py shows it on a disk that drops unsynced writes)."""
    with Journal.open(tmp_path / "j.sqlite3") as j:
        assert j._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_recorded_row_and_its_ack_survive_a_power_cut(lazy_disk: LazyDisk) -> None:
    """On a disk that loses every unsynced write (hal_sim.lazy_disk): what `record` and
    `mark_acked` returned from is there after the cut."""
    path = lazy_disk.mountpoint / "j.sqlite3"
    first, second = ids(2)
    journal = Journal.open(path)
    journal.record(make_txn(first))
    journal.mark_acked(Ack(txn_id=first, result="committed"))
    journal.record(make_txn(second, item="30101000000042"))
    lazy_disk.power_cut()
    journal.close()
    lazy_disk.remount()
    with Journal.open(path) as again:
        assert [r.status for r in again.rows_for_item("30101000000017")] == ["acked"]
        assert [r.txn.txn_id for r in again.rows_for_item("30101000000042")] == [second]


def test_recorded_row_survives_a_process_killed_right_after_record(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.firmware.test_journal import make_txn
        from firmware.journal import Journal
        j = Journal.open({str(db)!r})
        j.record(make_txn("01HXCRASH0000-k1"))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Journal.open(db) as j:
        assert [t.txn_id for t in j.unacked(10)] == ["01HXCRASH0000-k1"]
        assert j.depth() == 1


def test_order_is_kept_across_reopen_and_sent_rows_stay_unacked(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    txn_ids = ids(20)
    with Journal.open(db) as j:
        for t in txn_ids:
            j.record(make_txn(t))
        first = [t.txn_id for t in j.unacked(5)]
        j.mark_sent(first)
        # what is in flight is the outbox's business: every unacked row is listed
        assert [t.txn_id for t in j.unacked(100)] == txn_ids
    with Journal.open(db) as j:  # a power cut while 5 were in flight
        assert [t.txn_id for t in j.unacked(100)] == txn_ids
        assert j.counts()["sent"] == 5 and j.counts()["pending"] == 15


def test_each_publish_is_recorded_and_only_the_hubs_ack_ends_a_row(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b = ids(2)
        j.record(make_txn(a, item="30101000000017"), now=1000.0)
        j.record(make_txn(b, item="30101000000025"), now=1000.0)
        j.mark_sent([a], now=1000.0)
        j.mark_sent([a], now=1010.0)  # published again: the journal only counts
        (row,) = j.rows_for_item("30101000000017")
        assert (row.status, row.attempts, row.sent_at) == ("sent", 2, 1010.0)
        assert [t.txn_id for t in j.unacked(10)] == [a, b]
        j.mark_acked(Ack(txn_id=a, result="committed"))
        j.mark_sent([a], now=1020.0)  # a late copy does not reopen an acked row
        assert [t.txn_id for t in j.unacked(10)] == [b]
        assert j.rows_for_item("30101000000017")[0].status == "acked"


def test_a_row_is_done_only_on_the_hubs_ack_and_rejects_are_kept_for_staff(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b, c = ids(3)
        for t, item in zip(
            (a, b, c), ("30101000000017", "30101000000025", "30101000000033"), strict=True
        ):
            j.record(make_txn(t, item=item), now=100.0)
        j.mark_sent([a, b, c])
        assert j.depth() == 3
        assert j.mark_acked(Ack(txn_id=a, result="committed"))
        assert not j.mark_acked(Ack(txn_id=a, result="duplicate"))  # a repeat changes nothing
        assert j.mark_acked(Ack(txn_id=b, result="rejected", reason="item-on-loan"))
        assert j.mark_acked(Ack(txn_id=c, result="committed", exception="reader-blocked"))
        assert not j.mark_acked(Ack(txn_id="unknown-id-0000", result="committed"))
        assert j.depth() == 0
        assert j.counts() == {"pending": 0, "sent": 0, "acked": 1, "rejected": 1, "exception": 1}
        (row,) = j.rows_for_item("30101000000025")
        assert row.status == "rejected" and row.ack is not None and row.ack.reason == "item-on-loan"
        assert row.attempts == 1


def test_depth_and_oldest_pending_age(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        assert j.oldest_pending_age_s(now=50.0) is None
        a, b = ids(2)
        j.record(make_txn(a), now=100.0)
        j.record(make_txn(b), now=110.0)
        assert j.depth() == 2
        assert j.oldest_pending_age_s(now=130.0) == pytest.approx(30.0)
        j.mark_acked(Ack(txn_id=a, result="committed"))
        assert j.oldest_pending_age_s(now=130.0) == pytest.approx(20.0)


def test_prune_deletes_old_acked_rows_only_and_keeps_the_last_id(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b, c = ids(3)
        for t in (a, b, c):
            j.record(make_txn(t))
        j.mark_acked_many(
            [
                Ack(txn_id=a, result="committed"),
                Ack(txn_id=b, result="rejected"),
                Ack(txn_id=c, result="committed"),
            ],
            now=1000.0,
        )
        assert j.prune_acked(3600, now=1000.0 + 7200) == 1  # a; b is a reject, c the newest
        assert j.counts()["acked"] == 1
        assert j.last_txn_id() == c


def test_ids_stay_unique_and_ordered_across_restarts_and_a_clock_step_back(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    clock = [1_700_000_000_000]
    seen: list[str] = []
    for _restart in range(3):
        with Journal.open(db) as j:
            factory = TxnIdFactory("k1", j.last_txn_id(), clock_ms=lambda: clock[0])
            for _ in range(50):
                t = factory.next_id()
                j.record(make_txn(t))
                seen.append(t)
        clock[0] -= 60_000  # the wall clock is stepped back a minute between restarts
    assert len(set(seen)) == len(seen)
    assert seen == sorted(seen)
    with Journal.open(db) as j:
        assert [t.txn_id for t in j.unacked(1000)] == seen


def test_long_kiosk_ids_still_give_protocol_valid_ids() -> None:
    kiosk = "k" + "x" * 63
    t = TxnIdFactory(kiosk, None).next_id()
    assert len(t) <= 64
    make_txn(t)  # validates against contract.messages.TxnId
    assert TxnIdFactory(kiosk, None).next_id().split("-", 1)[1] == t.split("-", 1)[1]
    assert parse_time_part(t) is not None


def test_disk_full_raises_journal_disk_full_and_loses_nothing_written(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with Journal.open(db) as j:
        pages = j._conn.execute("PRAGMA page_count").fetchone()[0]
    kept: list[str] = []
    with Journal.open(db, max_page_count=pages + 2) as j:
        with pytest.raises(JournalError) as info:
            for t in ids(10_000):
                j.record(make_txn(t))
                kept.append(t)
        assert info.value.code == "journal-disk-full"
        assert kept, "some rows fit before the disk was full"
    with Journal.open(db) as j:
        assert [t.txn_id for t in j.unacked(100_000)] == kept


def test_a_corrupt_file_is_refused_at_open_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    garbage = os.urandom(8192)
    db.write_bytes(garbage)
    with pytest.raises(JournalError) as info:
        Journal.open(db)
    assert info.value.code == "journal-corrupt"
    assert "left untouched" in info.value.hint
    assert db.read_bytes() == garbage


def test_a_damaged_page_fails_the_integrity_check(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with Journal.open(db) as j:
        for t in ids(300):
            j.record(make_txn(t))
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data), page):  # scribble over every page but the first
        data[offset : offset + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    with pytest.raises(JournalError) as info:
        Journal.open(db)
    assert info.value.code == "journal-corrupt"


def test_the_kiosk_refuses_to_start_on_a_corrupt_journal_with_a_plain_message(tmp_path: Path) -> None:
    """No traceback for the technician: the code, what to do, and the file left as it was."""
    import subprocess
    import sys

    journal = tmp_path / "journal.sqlite3"
    junk = b"this is not a journal " * 400
    journal.write_bytes(junk)
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--journal", str(journal)],
        cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1, out.stderr
    assert "journal-corrupt" in out.stderr and "copy it off" in out.stderr
    assert "Traceback" not in out.stderr
    assert journal.read_bytes() == junk


def test_a_repeated_txn_id_is_refused_as_journal_io_and_keeps_the_first_row(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        (t,) = ids(1)
        j.record(make_txn(t, item="30101000000017"), now=5.0)
        with pytest.raises(JournalError) as info:
            j.record(make_txn(t, item="30101000000025"), now=6.0)
        assert info.value.code == "journal-io" and t in info.value.hint
        assert [r.created_at for r in j.rows_for_item("30101000000017")] == [5.0]
        assert j.rows_for_item("30101000000025") == []


def test_a_journal_path_under_a_plain_file_is_a_journal_io_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    path = blocker / "j.sqlite3"
    with pytest.raises(JournalError) as info:
        Journal.open(path)
    assert info.value.code == "journal-io"
    assert str(path) in info.value.hint and str(path) in str(info.value)


def test_open_makes_missing_folders_and_serves_the_pump_thread(tmp_path: Path) -> None:
    """The shell records on its thread, the hub link's pump sends and acks on its own."""
    import threading

    path = tmp_path / "var" / "kiosk" / "j.sqlite3"
    with Journal.open(path) as j:
        assert j.path == path
        a, b = ids(2)
        j.record(make_txn(a), now=10.0)
        j.record(make_txn(b, item="30101000000025"), now=11.0)
        failures: list[BaseException] = []

        def pump() -> None:
            try:
                j.mark_sent([a, b], now=20.0)
                j.mark_acked(Ack(txn_id=a, result="committed"), now=30.0)
            except BaseException as exc:  # handed to the test thread
                failures.append(exc)

        worker = threading.Thread(target=pump)
        worker.start()
        worker.join(10)
        assert failures == []
        assert [t.txn_id for t in j.unacked()] == [b]


def test_staff_see_each_rows_own_times_and_order(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b = ids(2)
        j.record(make_txn(a), now=100.0)
        j.record(make_txn(b, kind="return"), now=105.0)
        j.mark_sent([a, b], now=110.0)
        assert j.mark_acked(Ack(txn_id=a, result="committed"), now=120.0)
        first, second = j.rows_for_item("30101000000017")
        assert (first.seq, first.txn.txn_id, first.status) == (1, a, "acked")
        assert (first.created_at, first.sent_at, first.acked_at) == (100.0, 110.0, 120.0)
        assert first.ack == Ack(txn_id=a, result="committed")
        assert (second.seq, second.txn.kind, second.status, second.acked_at) == (2, "return", "sent", None)
        assert [txn_id for txn_id, _payload in j.unacked_raw()] == [b]


def test_without_a_clock_given_the_journal_stamps_the_wall_clock(tmp_path: Path) -> None:
    import time

    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b = ids(2)
        before = time.time()
        j.record(make_txn(a))
        j.record(make_txn(b, item="30101000000025"))
        j.mark_sent([a, b])
        j.mark_acked(Ack(txn_id=a, result="committed"))
        after = time.time()
        (row,) = j.rows_for_item("30101000000017")
        for stamp in (row.created_at, row.sent_at, row.acked_at):
            assert stamp is not None and before <= stamp <= after
        age = j.oldest_pending_age_s()
        assert age is not None and 0.0 <= age <= after - before + 1.0
        assert j.oldest_pending_age_s(now=row.created_at - 50) == 0.0  # a clock stepped back


def test_prune_keeps_rows_acked_more_recently_than_the_age_given(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        a, b = ids(2)
        j.record(make_txn(a))
        j.record(make_txn(b, item="30101000000025"))
        j.mark_acked(Ack(txn_id=a, result="committed"), now=1000.0)
        assert j.prune_acked(3600, now=1000.0 + 1800) == 0
        assert j.prune_acked(3600, now=1000.0 + 3601) == 1
        assert j.rows_for_item("30101000000017") == []
