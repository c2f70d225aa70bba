"""Issue 10, item 6 and issue 16, finding 10 "At rest": what the kiosk and the hub leave on
disk, and why a copy of the ledger alone gives no PIN away."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pytest

from contract import card_schemes
from contract.messages import Ack
from contract.private_files import make_private
from firmware.journal import Journal
from firmware.logging_setup import configure_logging
from hub.config import ConfigError, HubConfig, load_config
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.ledger.ledger_sql import open_database
from hub.ledger.pins import ScryptCost, _scrypt, hash_pin
from hub.pki.pin_pepper import read_pepper_file, write_pepper_file
from hub.pki.pki_files import PkiPaths
from hub.rules.registry import load_registry
from hub.rules.rules import ReaderRecord
from hub.worker.service import HubService
from tests.firmware.test_journal import make_txn

ROOT = Path(__file__).resolve().parents[2]


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


# -- the PIN pepper (issue 16, finding 10) --------------------------------------------------

CHEAPEST = ScryptCost(n=2, r=1, p=1)  # the cheapest hash verify_pin takes: a search costs ~nothing
NLC_NUMBER = card_schemes.make_card_number("nlc", 4711)
NLC_PIN = "4711"


def crack(stored: str, keys: Iterable[bytes]) -> str | None:
    """What someone with a copy of the ledger does: every 4-digit PIN under every key."""
    _, _pid, n, r, p, salt_hex, digest_hex = stored.split("$")
    cost = ScryptCost(int(n), int(r), int(p))
    for key in keys:
        for guess in (f"{i:04d}" for i in range(10_000)):
            if _scrypt(guess, key, bytes.fromhex(salt_hex), cost).hex() == digest_hex:
                return guess
    return None


def ledger_copy_with_a_cheap_hash(tmp_path: Path, pepper_file: Path | None) -> tuple[Path, str]:
    """A ledger holding one NLC reader's 4-digit PIN at the cheapest cost, and a copy of it."""
    path = tmp_path / "hub.sqlite"
    with Ledger.open(f"sqlite:///{path}", pepper_file) as ledger:
        ledger.add_reader(ReaderRecord("nlc", NLC_NUMBER, "李雷", "valid", None, date(2030, 1, 1), "nlc"))
        stored = hash_pin(NLC_PIN, ledger.pin_peppers(), CHEAPEST)
        ledger.db.execute("UPDATE readers SET pin_hash = ? WHERE number = ?", (stored, NLC_NUMBER))
    copy = tmp_path / "stolen.sqlite"
    shutil.copyfile(path, copy)
    return copy, stored


def every_value_in(copy: Path) -> list[bytes]:
    """Every cell of every table, raw and hex-decoded: any of them could be a key."""
    db = sqlite3.connect(copy)
    values: list[bytes] = [b""]
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in db.execute(f"SELECT * FROM {table}"):  # the names come from the file itself
            for cell in row:
                if isinstance(cell, str) and len(cell) >= 32:
                    values.append(cell.encode())
                    with contextlib.suppress(ValueError):
                        values.append(bytes.fromhex(cell))
    db.close()
    return values


def test_pki_init_writes_the_pin_pepper_0600_and_the_lab_names_it_in_every_hub_config(
    tmp_path: Path, loose_umask: None
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hub", "pki", "init", "--pki", str(tmp_path / "pki")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pepper = PkiPaths(tmp_path / "pki").pin_pepper
    assert mode(pepper) == 0o600 and len(read_pepper_file(pepper)) == 32
    assert f"PIN pepper: {pepper}" in out.stdout
    lab = Lab(tmp_path / "lab")
    config = load_config(lab.hub_config("1"))
    assert config.pin_pepper_file == lab.pin_pepper and mode(lab.pin_pepper) == 0o600
    assert load_config(lab.hub_config("2")).pin_pepper_file == config.pin_pepper_file  # one pepper per ledger


def test_a_copy_of_the_ledger_alone_cannot_give_away_a_4_digit_pin(tmp_path: Path) -> None:
    pepper_file = tmp_path / "pin-pepper"
    pepper = write_pepper_file(pepper_file)
    copy, stored = ledger_copy_with_a_cheap_hash(tmp_path, pepper_file)
    assert pepper.hex().encode() not in copy.read_bytes() and pepper not in copy.read_bytes()
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM meta WHERE key = 'pin_pepper'").fetchone() == (0,)
    assert crack(stored, every_value_in(copy)) is None  # 10,000 PINs under every value the copy holds
    assert crack(stored, [pepper]) == NLC_PIN  # the same search with the pepper file finds it


def test_with_the_pepper_inside_the_ledger_a_copy_gives_the_pin_away(tmp_path: Path) -> None:
    """Why the hub refuses that setup: the finding, performed."""
    copy, stored = ledger_copy_with_a_cheap_hash(tmp_path, None)
    assert crack(stored, every_value_in(copy)) == NLC_PIN


def test_the_hub_refuses_to_start_with_the_pepper_in_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    settings = tmp_path / "hub.toml"
    settings.write_text(f'[hub]\ndb = "sqlite:///{db}"\n', encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "hub", "--config", str(settings)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("hub: hub.pin_pepper_file: not set") and "python -m hub pki init" in line
    assert not db.exists()  # refused before the ledger was opened, let alone seeded
    with pytest.raises(ConfigError, match=r"hub\.pin_pepper_file"):
        HubService("mqtt://127.0.0.1:1", f"sqlite:///{db}", load_registry(), "w", config=HubConfig()).start()
    assert not db.exists()
    HubConfig(pepper_in_ledger_ok=True).refuse_pepper_in_ledger()  # the lab flag, for old test setups
