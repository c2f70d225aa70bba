"""Issue 10, item 6 "At rest": what the kiosk and the hub leave on disk."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.messages import Ack
from contract.private_files import make_private
from firmware.journal import Journal
from firmware.logging_setup import configure_logging
from hub.ledger_sql import open_database
from tests.firmware.test_journal import make_txn


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The files must be 0600 whatever umask the service was started with."""
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def test_journal_and_its_wal_and_shm_are_0600(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record(make_txn("01HXMODE00000-k1"))
        created = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert len(created) == 3
        assert {p.name: mode(p) for p in created} == {p.name: 0o600 for p in created}


def test_an_existing_journal_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    os.chmod(path, 0o644)
    with Journal.open(path):
        assert mode(path) == 0o600


def test_hub_ledger_and_its_wal_and_shm_are_0600(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "hub" / "ledger.sqlite"
    db = open_database(f"sqlite:///{path}")
    try:
        db.create_schema()
        created = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert path in created and len(created) >= 2
        assert {p.name: mode(p) for p in created} == {p.name: 0o600 for p in created}
    finally:
        db.close()


def test_log_file_is_0600(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "log" / "kiosk.log"
    handlers = configure_logging("INFO", file=path)
    try:
        logging.getLogger("test.at_rest").info("loan recorded")
        for handler in handlers:
            handler.flush()
        assert "loan recorded" in path.read_text(encoding="utf-8")
        assert mode(path) == 0o600
    finally:
        root = logging.getLogger()
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


def test_make_private_keeps_the_content_of_a_file_it_tightens(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("kept")
    os.chmod(path, 0o664)
    make_private(path)
    assert (mode(path), path.read_text()) == (0o600, "kept")


def test_an_acked_row_keeps_a_keyed_hash_and_a_pending_row_still_sends_the_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    number = make_txn("01HXCARD00000-k1").card.number  # type: ignore[union-attr]
    with Journal.open(path) as journal:
        journal.record(make_txn("01HXCARD00000-k1", item="30101000000017"))
        journal.record(make_txn("01HXCARD00001-k1", item="30101000000025"))
        journal.mark_sent(["01HXCARD00000-k1", "01HXCARD00001-k1"])
        journal.mark_acked(Ack(txn_id="01HXCARD00000-k1", result="committed"))

        (acked,) = journal.rows_for_item("30101000000017")
        assert acked.status == "acked" and acked.txn.card is not None
        assert acked.txn.card.number == journal.keyed_card_number(acked.txn.card.scheme, number)
        assert acked.txn.card.number != number and acked.txn.card.number.startswith("h")

        ((_txn_id, sent),) = journal.unacked_raw()
        assert number in sent.decode()
        assert [t.card.number for t in journal.unacked() if t.card] == [number]

    stored = {
        txn_id: payload
        for txn_id, payload in sqlite3.connect(path).execute("SELECT txn_id, payload FROM rows")
    }
    assert number not in stored["01HXCARD00000-k1"]
    assert number in stored["01HXCARD00001-k1"]


def test_the_card_key_is_per_journal_and_kept_across_reopen(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "a.sqlite") as a:
        first = a.keyed_card_number("nlc", "0110000012341")
    with Journal.open(tmp_path / "a.sqlite") as a:
        assert a.keyed_card_number("nlc", "0110000012341") == first
    with Journal.open(tmp_path / "b.sqlite") as b:
        assert b.keyed_card_number("nlc", "0110000012341") != first
