"""Staff see exceptions: each listed with its reason in words, the book with its title, the
reader masked (never the card number), the kiosk and the time; one is resolved once, with
who, when and a note; `hub status` counts the open ones per kiosk. On SQLite and
PostgreSQL, and from the command line (`python -m hub exceptions`)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from contract import messages
from hub.cli.exceptions_cli import parse_since
from hub.ledger.exception_reasons import EXCEPTION_REASONS
from hub.ledger.ledger import Ledger
from hub.ledger.staff_exceptions import ResolveError
from hub.rules import rules
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_ledger import NOW, add_item, add_reader, card, txn

ROOT = Path(__file__).resolve().parents[3]


def _two_exceptions(ledger: Ledger, registry: Registry) -> tuple[messages.CardRef, str, str]:
    """An offline loan of a book another reader has (item_on_loan), and an offline return
    of a book the catalogue does not know (item_unknown), both at kiosk k1."""
    alice, bob = card("bj-joint", 20), card("bj-joint", 21)
    add_reader(ledger, alice)
    add_reader(ledger, bob)
    book = add_item(ledger, registry, "capital", 20)
    doors.commit_txn(ledger, txn("loan", book, alice), registry, NOW)
    doors.commit_txn(ledger, txn("loan", book, bob, mode="offline", at=NOW + timedelta(minutes=5)), registry, NOW)
    doors.commit_txn(ledger, txn("return", "30002999999990", bob, mode="offline", at=NOW), registry, NOW)
    return bob, book, "30002999999990"


def test_every_exception_is_listed_with_its_reason_in_words_the_title_and_a_masked_reader(
    ledger: Ledger, registry: Registry
) -> None:
    bob, book, unknown = _two_exceptions(ledger, registry)
    loan, ret = ledger.staff_exceptions()
    assert (loan.reason, loan.kind, loan.mode, loan.item, loan.title) == ("item_on_loan", "loan", "offline", book, "Book 20")
    assert loan.reason_text == EXCEPTION_REASONS["item_on_loan"]
    assert (loan.reader, loan.scheme, loan.kiosk_id, loan.library_id) == ("王*明", "bj-joint", "k1", "capital")
    assert (ret.reason, ret.item, ret.title) == ("item_unknown", unknown, None)
    assert loan.state == ret.state == "open"
    shown = json.dumps([e.as_json() for e in (loan, ret)], ensure_ascii=False)
    assert bob.number not in shown and "王小明" not in shown


def test_an_exception_is_resolved_once_with_who_when_and_the_note(ledger: Ledger, registry: Registry) -> None:
    _two_exceptions(ledger, registry)
    first = ledger.staff_exceptions()[0]
    done = ledger.resolve_exception(first.id, "alice", "both readers called; the book is back", NOW)
    assert (done.state, done.resolved_by, done.resolved_note, done.resolved_at) == (
        "resolved", "alice", "both readers called; the book is back", NOW)  # fmt: skip
    with pytest.raises(ResolveError, match=f"exception {first.id} was already resolved .* by alice"):
        ledger.resolve_exception(first.id, "bob", "again", NOW + timedelta(hours=1))
    assert ledger.staff_exceptions()[0].resolved_by == "alice"  # the first record stands
    with pytest.raises(ResolveError, match="no exception 9999"):
        ledger.resolve_exception(9999, "alice", "?", NOW)
    assert [e.reason for e in ledger.staff_exceptions(only_open=True)] == ["item_unknown"]


def test_the_list_filters_by_kiosk_and_time(ledger: Ledger, registry: Registry) -> None:
    _two_exceptions(ledger, registry)
    assert len(ledger.staff_exceptions(kiosk_id="k1")) == 2
    assert ledger.staff_exceptions(kiosk_id="k2") == []
    assert len(ledger.staff_exceptions(since=NOW - timedelta(seconds=1))) == 2
    assert ledger.staff_exceptions(since=NOW + timedelta(seconds=1)) == []


def test_status_counts_the_open_exceptions_of_each_kiosk(ledger: Ledger, registry: Registry) -> None:
    from hub.cli.fleet import fleet_json, fleet_table

    ledger.record_state("k1", messages.KioskState(state="online", library_id="capital"), NOW)
    _two_exceptions(ledger, registry)
    [row] = ledger.fleet()
    assert row.open_exceptions == 2
    table = fleet_table([row], NOW).splitlines()
    column = table[0].index("EXCEPTIONS")
    assert table[1][column:].split()[0] == "2"
    ledger.resolve_exception(ledger.staff_exceptions()[0].id, "alice", "sorted", NOW)
    assert fleet_json(ledger.fleet(), NOW)[0]["open_exceptions"] == 1


def test_a_ledger_made_before_resolving_existed_gets_the_columns_at_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Ledger.open(f"sqlite:///{path}"):
        pass
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE exceptions")
    conn.execute("CREATE TABLE exceptions (id INTEGER PRIMARY KEY, txn_id TEXT NOT NULL, kiosk_id TEXT NOT NULL,"
                 " reason TEXT NOT NULL, summary TEXT NOT NULL, at TEXT NOT NULL)")  # fmt: skip
    conn.execute("INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES ('t', 'k1', 'item_unknown',"
                 " 's', '2025-03-03T10:00:00.000000+00:00')")  # fmt: skip
    conn.commit()
    conn.close()
    with Ledger.open(f"sqlite:///{path}") as led:
        [old] = led.staff_exceptions()
        assert old.state == "open" and old.kind is None
        assert led.resolve_exception(old.id, "alice", "found it", NOW).state == "resolved"


def test_since_takes_dates_times_and_ages() -> None:
    zone = rules.SHANGHAI
    assert parse_since("7d", NOW, zone) == NOW - timedelta(days=7)
    assert parse_since("30m", NOW, zone) == NOW - timedelta(minutes=30)
    assert parse_since("2025-03-03", NOW, zone).astimezone(UTC).isoformat() == "2025-03-02T16:00:00+00:00"
    assert parse_since("2025-03-03T10:00+00:00", NOW, zone) == NOW
    with pytest.raises(ValueError, match="not a time"):
        parse_since("yesterday", NOW, zone)


# ---------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_the_cli_lists_resolves_and_refuses_a_second_resolve(tmp_path: Path, registry: Registry) -> None:
    db = f"sqlite:///{tmp_path}/hub.sqlite"
    with Ledger.open(db) as led:
        bob, book, _unknown = _two_exceptions(led, registry)
        led.record_state("k1", messages.KioskState(state="online", library_id="capital"), NOW)
        first = led.staff_exceptions()[0].id
    listed = _cli("exceptions", "--db", db)
    assert listed.returncode == 0, listed.stderr
    assert EXCEPTION_REASONS["item_on_loan"] in listed.stdout and "[item_on_loan]" in listed.stdout
    assert f"book {book} 《Book 20》" in listed.stdout and "王*明 (bj-joint card)" in listed.stdout
    assert "kiosk k1 at capital" in listed.stdout and "2 exception(s), 2 open" in listed.stdout
    assert bob.number not in listed.stdout
    done = _cli("exceptions", "resolve", str(first), "--note", "called the reader", "--by", "alice", "--db", db)
    assert done.returncode == 0, done.stderr
    assert f"exception {first} resolved by alice" in done.stdout
    again = _cli("exceptions", "resolve", str(first), "--note", "x", "--db", db)
    assert again.returncode == 1 and "already resolved" in again.stderr and "alice" in again.stderr
    as_json = json.loads(_cli("exceptions", "--db", db, "--json", "--kiosk", "k1").stdout)["exceptions"]
    assert [(e["state"], e["resolved_by"]) for e in as_json] == [("resolved", "alice"), ("open", None)]
    assert json.loads(_cli("exceptions", "--db", db, "--json", "--open").stdout)["exceptions"][0]["reason"] == "item_unknown"
    status = json.loads(_cli("status", "--db", db, "--json").stdout)["kiosks"]
    assert status[0]["open_exceptions"] == 1
    assert "1 open staff exception(s): python -m hub exceptions --open" in _cli("status", "--db", db).stdout
    bad = _cli("exceptions", "--db", db, "--since", "last tuesday")
    assert bad.returncode == 2 and "not a time" in bad.stderr and "Traceback" not in bad.stderr
    empty = _cli("exceptions", "resolve", "1", "--note", "  ", "--db", db)
    assert empty.returncode == 2 and "--note" in empty.stderr
    second = json.loads(_cli("exceptions", "--db", db, "--json", "--open").stdout)["exceptions"][0]["id"]
    escaped = _cli("exceptions", "resolve", str(second), "--note", "ok\x1b[2J\nnext line", "--by", "bob", "--db", db)
    assert escaped.returncode == 0 and "\x1b" not in escaped.stdout
    with Ledger.open(db) as led:
        assert led.staff_exceptions()[1].resolved_note == "ok [2J next line"


def test_offline_loans_on_a_card_the_library_does_not_lend_to_are_listed_for_staff(
    ledger: Ledger, registry: Registry
) -> None:
    """Issue 20's case: three offline loans on a university card at the Capital Library."""
    student = card("univ-public", 30)
    add_reader(ledger, student)
    books = [add_item(ledger, registry, "capital", n) for n in (30, 31, 32)]
    for n, book in enumerate(books):
        ack = doors.commit_txn(ledger, txn("loan", book, student, mode="offline", at=NOW + timedelta(minutes=n)), registry, NOW)
        assert (ack.result, ack.exception) == ("committed", "scheme_not_accepted")
    listed = ledger.staff_exceptions(kiosk_id="k1")
    assert [(e.reason, e.item, e.scheme) for e in listed] == [("scheme_not_accepted", b, "univ-public") for b in books]
    assert listed[0].reason_text == EXCEPTION_REASONS["scheme_not_accepted"]


def test_a_route_correction_is_listed_by_hub_exceptions_with_both_routes(tmp_path: Path, registry: Registry) -> None:
    """The diverter put a Dongcheng book on the Capital Library's shelf, the hub would
    have sent it home: `python -m hub exceptions` says so, in words and with both routes."""
    db = f"sqlite:///{tmp_path}/hub.sqlite"
    with Ledger.open(db) as led:
        book = add_item(led, registry, "dongcheng", 40, state="on_loan")
        ack = doors.commit_txn(led, txn("return", book, None, library="capital", route="shelve"), registry, NOW)
        assert ack is not None and ack.exception == "route_corrected"
    listed = _cli("exceptions", "--db", db, "--open")
    assert listed.returncode == 0, listed.stderr
    assert "[route_corrected]" in listed.stdout and EXCEPTION_REASONS["route_corrected"] in listed.stdout
    assert "sent it to the shelf at capital" in listed.stdout and "in transit to dongcheng" in listed.stdout
