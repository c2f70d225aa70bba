"""What the ledger keeps of a member's own library system (hub/ils/ils_operations.py): its
readers as the system last described them, its books as far as kiosks handled them, and
the due date the system gave a loan. The ILS leg writes these rows only through here, so
the ledger's tables have one owner on the ledger's side of the door.

What a caller may rely on: every function takes a `Database` and runs inside the
caller's transaction (the caller opens `db.write()` when it needs one); nothing here asks
a system anything.
"""

from __future__ import annotations

from datetime import datetime

from contract.privacy import card_hash
from hub.ledger import queries
from hub.ledger.ledger_sql import Database, time_text
from hub.rules.rules import ReaderRecord


def mirror_reader(db: Database, reader: ReaderRecord) -> None:
    """The system's reader in the ledger: name, state, expiry and home follow the system;
    the PIN counters stay the hub's (hub/ledger/pins.py)."""
    db.execute(
        "INSERT INTO readers (card_hash, scheme, number, name, state, block_reason, expires, home_library)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (card_hash) DO UPDATE SET name = excluded.name,"
        " state = excluded.state, block_reason = excluded.block_reason, expires = excluded.expires,"
        " home_library = excluded.home_library",
        (
            card_hash(reader.scheme, reader.number), reader.scheme, reader.number, reader.name,
            reader.state, reader.block_reason, reader.expires.isoformat(), reader.home_library,
        ),
    )  # fmt: skip


def mirror_item(db: Database, barcode: str, title: str | None, member: str, available: bool = True) -> None:
    """The book in the ledger, with the system's title (a new row, at home at `member`,
    on the shelf). After the system lent it (`available`), the ledger no longer holds it
    back unless it has its own open loan: the system knows its holds and loans, the
    ledger only what kiosks did."""
    if queries.item(db, barcode) is None:
        db.execute(
            "INSERT INTO items (barcode, title, home_library, state, hold_for, loanable)"
            " VALUES (?, ?, ?, 'on_shelf', NULL, 1)",
            (barcode, title or barcode, member),
        )
        return
    if title:
        db.execute("UPDATE items SET title = ? WHERE barcode = ?", (title, barcode))
    if available and queries.active_loan_for_item(db, barcode) is None:
        db.execute(
            "UPDATE items SET state = 'on_shelf', hold_for = NULL, loanable = 1 WHERE barcode = ?", (barcode,)
        )


def keep_system_due(db: Database, barcode: str, due: datetime) -> None:
    """The book's open loan takes the due date its system gave (a checkout or renewal the
    system made), inside the txn's commit."""
    db.execute("UPDATE loans SET due = ? WHERE item = ? AND closed_at IS NULL", (time_text(due), barcode))
