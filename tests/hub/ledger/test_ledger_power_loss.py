"""The SQLite ledger's commits survive a power cut (issue 21): the hub acks a txn only
after its commit, so the commit must be on stable storage, not in a cache. WAL with
`synchronous=NORMAL` would be consistent after a cut but could lose the last commits,
acks already sent; the ledger uses FULL, and this proves it on a disk that loses every
unsynced write (hal_sim.lazy_disk)."""

from __future__ import annotations

from hal_sim.lazy_disk_mount import LazyDisk
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import NOW, add_item, add_reader, card, txn

FULL = 2  # what `PRAGMA synchronous` answers for FULL


def test_the_sqlite_ledger_is_wal_with_synchronous_full(tmp_path) -> None:
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite") as ledger:
        assert ledger.db.scalar("PRAGMA journal_mode") == "wal"
        assert ledger.db.scalar("PRAGMA synchronous") == FULL


def test_every_acked_txn_is_in_the_ledger_after_a_power_cut_and_a_resend_is_kept_once(
    lazy_disk: LazyDisk, registry: Registry
) -> None:
    url = f"sqlite:///{lazy_disk.mountpoint}/ledger.sqlite"
    reader = card("bj-joint", 1)
    ledger = Ledger.open(url)
    add_reader(ledger, reader)
    books = [add_item(ledger, registry, "capital", n) for n in (1, 2, 3)]
    sent = [txn("loan", book, reader) for book in books]
    acks = [doors.commit_txn(ledger, t, registry, NOW) for t in sent]
    assert [a.result for a in acks] == ["committed"] * 3
    lazy_disk.power_cut()  # right after the acks: nothing more was synced
    ledger.close()
    lazy_disk.remount()

    with Ledger.open(url) as ledger:
        ids = [t.txn_id for t in sent]
        assert ledger.ledger_counts(ids) == dict.fromkeys(ids, 1)
        assert ledger.count("loans") == 3
        again = doors.commit_txn(ledger, sent[-1], registry, NOW)  # the kiosk resends
        assert again.result == "duplicate"
        assert ledger.ledger_counts(ids) == dict.fromkeys(ids, 1)
