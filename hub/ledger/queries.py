"""Reading the ledger: readers, items, loans, holds, the offline blocklist, and the
audit views staff and tests use (committed txns, exceptions, transfers, row counts).

Nothing here writes. Readers and items come back as the `hub.rules.rules` records the loan
rules take, so an answer is ledger row -> record -> rules, with no translation between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contract.privacy import blocklist_hash, card_hash
from hub.ledger.ledger_sql import Database
from hub.rules.rules import ItemRecord, ReaderRecord

LEDGER_TABLES = frozenset(
    {"readers", "items", "loans", "holds", "transfers", "txns", "exceptions", "fleet"}
)


@dataclass(frozen=True)
class LoanRow:
    """An open loan, with the item's title (empty when the item row is missing)."""

    item: str
    card_hash: str
    title: str
    opened_at: datetime
    due: datetime
    renewals: int


@dataclass(frozen=True)
class HoldRow:
    """An open hold of a reader with its book's title and state: `hold_state` is the
    holds table's ("waiting", "ready"), `item_state` the book's ("on_hold", "in_transit",
    "on_loan", ...), so a caller tells a book on the shelf from one on its way."""

    item: str
    title: str
    pickup_library: str
    hold_state: str
    item_state: str


@dataclass(frozen=True)
class ExceptionRow:
    """A committed txn staff must look at (an offline conflict, an unknown book). The
    summary names kiosk, library, item and card scheme, never the card number."""

    txn_id: str
    kiosk_id: str
    reason: str
    summary: str
    at: datetime


_LOAN_COLUMNS = (
    "SELECT l.item, l.card_hash, COALESCE(i.title, ''), l.opened_at, l.due, l.renewals"
    " FROM loans l LEFT JOIN items i ON i.barcode = l.item"
)


def is_empty(db: Database) -> bool:
    """No items yet: a new ledger, to be seeded."""
    return db.scalar("SELECT COUNT(*) FROM items") == 0


def reader(db: Database, scheme: str, number: str) -> ReaderRecord | None:
    """The reader holding this card, or None for an unknown card."""
    return reader_by_hash(db, card_hash(scheme, number))


def reader_by_hash(db: Database, key: str) -> ReaderRecord | None:
    """The reader whose card hashes to `key` (`contract.privacy.card_hash`), or None."""
    row = db.query_one(
        "SELECT scheme, number, name, state, block_reason, expires, home_library"
        " FROM readers WHERE card_hash = ?",
        (key,),
    )
    if row is None:
        return None
    return ReaderRecord(
        scheme=row[0],
        number=row[1],
        name=row[2],
        state=row[3],
        block_reason=row[4],
        expires=date.fromisoformat(row[5]) if row[5] else None,
        home_library=row[6],
    )


def item(db: Database, barcode: str, for_update: bool = False) -> ItemRecord | None:
    """The item, or None when the alliance does not know it. `for_update` (inside a write
    transaction) locks the row on PostgreSQL, so two workers committing txns for the
    same book take turns; SQLite's write transaction already excludes the other."""
    sql = "SELECT barcode, title, home_library, state, hold_for, loanable FROM items WHERE barcode = ?"
    if for_update and db.dialect == "postgresql":
        sql += " FOR UPDATE"
    row = db.query_one(sql, (barcode,))
    if row is None:
        return None
    return ItemRecord(
        barcode=row[0],
        title=row[1],
        home_library=row[2],
        state=row[3],
        hold_for=row[4],
        loanable=bool(row[5]),
    )


def items_by_state(db: Database, state: str, limit: int = 5) -> list[ItemRecord]:
    """The first `limit` items in `state`, by barcode (for demos and technicians)."""
    rows = db.query("SELECT barcode FROM items WHERE state = ? ORDER BY barcode LIMIT ?", (state, limit))
    found = (item(db, r[0]) for r in rows)
    return [i for i in found if i is not None]


def active_loans(db: Database, reader_hash: str) -> list[LoanRow]:
    """The reader's open loans, oldest first."""
    rows = db.query(
        f"{_LOAN_COLUMNS} WHERE l.card_hash = ? AND l.closed_at IS NULL ORDER BY l.opened_at",
        (reader_hash,),
    )
    return [_loan(r) for r in rows]


def active_loan_for_item(db: Database, barcode: str) -> LoanRow | None:
    """The item's open loan (there is at most one: a unique index says so), or None."""
    row = db.query_one(f"{_LOAN_COLUMNS} WHERE l.item = ? AND l.closed_at IS NULL", (barcode,))
    return None if row is None else _loan(row)


def reader_home(db: Database, reader_hash: str) -> str | None:
    """The home library the ledger has for the card `reader_hash` (None: no such reader)."""
    return db.scalar("SELECT home_library FROM readers WHERE card_hash = ?", (reader_hash,))


def item_home(db: Database, barcode: str) -> str | None:
    """The home library the ledger has for the book (None: not in the catalogue)."""
    return db.scalar("SELECT home_library FROM items WHERE barcode = ?", (barcode,))


def open_loan_txn(db: Database, barcode: str) -> tuple[str, str] | None:
    """(txn id, reader hash) of the book's open loan, or None."""
    row = db.query_one("SELECT txn_id, card_hash FROM loans WHERE item = ? AND closed_at IS NULL", (barcode,))
    return None if row is None else (row[0], row[1])


def loan_ended_by(db: Database, barcode: str, return_txn_id: str, at: str) -> str | None:
    """The txn id of the loan a return ends: the one it closed, else (a return held for
    staff closes nothing) the one open since before `at` (time_text); None when the
    ledger had no loan of the book open at that return."""
    closed = db.query_one("SELECT txn_id FROM loans WHERE item = ? AND closed_by = ?", (barcode, return_txn_id))
    if closed is not None:
        return str(closed[0])
    held = db.query_one(
        "SELECT txn_id FROM loans WHERE item = ? AND closed_at IS NULL AND opened_at < ? ORDER BY opened_at DESC LIMIT 1",
        (barcode, at),
    )
    return None if held is None else str(held[0])


def waiting_hold(db: Database, barcode: str) -> tuple[str, str] | None:
    """(reader hash, pickup library) of the oldest open hold on the item."""
    row = db.query_one(
        "SELECT card_hash, pickup_library FROM holds WHERE item = ? AND state IN ('waiting', 'ready')"
        " ORDER BY id LIMIT 1",
        (barcode,),
    )
    return None if row is None else (row[0], row[1])


def reader_holds(db: Database, reader_hash: str) -> list[HoldRow]:
    """The reader's open holds (waiting or ready), oldest first; a hold whose book the
    catalogue does not hold is left out (nothing to show or fetch)."""
    rows = db.query(
        "SELECT h.item, i.title, h.pickup_library, h.state, i.state FROM holds h"
        " JOIN items i ON i.barcode = h.item"
        " WHERE h.card_hash = ? AND h.state IN ('waiting', 'ready') ORDER BY h.id",
        (reader_hash,),
    )
    return [HoldRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def blocklist_hashes(db: Database, today: date, salt: str) -> list[str]:
    """The cards a kiosk must refuse offline (blocked, or not valid, or expired), each as
    `contract.privacy.blocklist_hash` with `salt`, sorted (so their order tells nothing)."""
    rows = db.query(
        "SELECT scheme, number FROM readers"
        " WHERE state <> 'valid' OR (expires IS NOT NULL AND expires < ?)",
        (today.isoformat(),),
    )
    return sorted(blocklist_hash(salt, r[0], r[1]) for r in rows)


def ledger_counts(db: Database, txn_ids: Sequence[str]) -> dict[str, int]:
    """txn_id -> committed rows holding it (0 or 1): what `expect committed` checks."""
    counts = dict.fromkeys(txn_ids, 0)
    if not txn_ids:
        return counts
    marks = ", ".join("?" for _ in txn_ids)
    for txn_id, n in db.query(
        f"SELECT txn_id, COUNT(*) FROM txns WHERE result = 'committed' AND txn_id IN ({marks})"
        " GROUP BY txn_id",
        tuple(txn_ids),
    ):
        counts[txn_id] = int(n)
    return counts


def txn_rows(db: Database, txn_id: str | None = None) -> int:
    """Rows in txns, whatever their result (for one id, or all)."""
    if txn_id is None:
        return int(db.scalar("SELECT COUNT(*) FROM txns"))
    return int(db.scalar("SELECT COUNT(*) FROM txns WHERE txn_id = ?", (txn_id,)))


def count(db: Database, table: str) -> int:
    """Rows in one of `LEDGER_TABLES`; ValueError for any other name (it goes into SQL)."""
    if table not in LEDGER_TABLES:
        raise ValueError(f"no such ledger table: {table}")
    return int(db.scalar(f"SELECT COUNT(*) FROM {table}"))


def exceptions(db: Database) -> list[ExceptionRow]:
    """Every exception row, oldest first."""
    return [
        ExceptionRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]))
        for r in db.query("SELECT txn_id, kiosk_id, reason, summary, at FROM exceptions ORDER BY id")
    ]


def transfers(db: Database, barcode: str) -> list[tuple[str, str]]:
    """(from library, to library) of every transfer of the item, oldest first."""
    return [
        (r[0], r[1])
        for r in db.query(
            "SELECT from_library, to_library FROM transfers WHERE item = ? ORDER BY id", (barcode,)
        )
    ]


def known_cards(db: Database) -> list[tuple[str, str]]:
    """(scheme, number) of every reader card the ledger knows (the told-audit's key)."""
    return [(r[0], r[1]) for r in db.query("SELECT scheme, number FROM readers")]


def loan_history(db: Database, barcode: str) -> list[tuple[str, str, str | None]]:
    """(card hash, opened_at, closed_at) of every loan of the book, oldest first, open or
    closed (the told-audit's history of a book)."""
    rows = db.query(
        "SELECT card_hash, opened_at, closed_at FROM loans WHERE item = ? ORDER BY opened_at",
        (barcode,),
    )
    return [(r[0], str(r[1]), None if r[2] is None else str(r[2])) for r in rows]


def _loan(row: Sequence[Any]) -> LoanRow:
    return LoanRow(
        item=row[0],
        card_hash=row[1],
        title=row[2],
        opened_at=datetime.fromisoformat(row[3]),
        due=datetime.fromisoformat(row[4]),
        renewals=int(row[5]),
    )
