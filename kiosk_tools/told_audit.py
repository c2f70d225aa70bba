"""Does the ledger end where the readers were told? (issue 9; docs/ordering.md)

A kiosk journals every loan and return just before it shows it to the reader, so its
journal, in order, is what readers were told. This module reads kiosk journals, works
out the last thing told about each book and each reader's books in hand, and compares
that with a hub ledger:

- a book last told "lent to R" must be on loan to R in the ledger; a book last told
  "returned" must have no open loan and not be `on_loan`;
- each reader's open loans (of the books the journals mention) must be exactly the books
  they were lent and have not returned.

Across kiosks, events are ordered by when the reader was told (`at`), a kiosk's own
journal order deciding within that kiosk, as the hub is to order them. Used by the
end-to-end ordering tests and the ordering soak (`python -m bench.soak_order`).
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contract.messages import Txn
from contract.privacy import card_hash
from hub.ledger.ledger import Ledger


@dataclass(frozen=True)
class Told:
    """One loan or return as its reader was told it."""

    at: datetime
    kiosk_id: str
    seq: int  # the row's place in its kiosk's journal
    txn_id: str
    kind: str
    item: str
    reader: str | None  # card hash; None for a return without a card


def journal_events(path: Path | str, cards: Iterable[tuple[str, str]] = ()) -> list[Told]:
    """Every loan and return in one kiosk journal, in journal order. Read-only: opening
    it as a `Journal` could change rows a dead kiosk left behind.

    An acked row keeps only its journal's keyed hash of the card (firmware.journal), so
    the readers' cards (`cards`: scheme, number; e.g. `known_cards(ledger)`) are hashed
    the same way to tell whose each row was."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT seq, payload FROM rows ORDER BY seq").fetchall()
        key_row = conn.execute("SELECT value FROM meta WHERE key = 'card_key'").fetchone()
    keyed: dict[str, str] = {}
    if key_row is not None:
        key = bytes.fromhex(key_row[0])
        for scheme, number in cards:
            digest = hmac.new(key, f"{scheme}:{number}".encode(), hashlib.sha256).hexdigest()
            keyed[f"{scheme}:h{digest[:16]}"] = card_hash(scheme, number)
    events = []
    for seq, payload in rows:
        txn = Txn.model_validate_json(payload)
        if txn.kind not in ("loan", "return"):
            continue
        reader = None
        if txn.card is not None:
            reader = keyed.get(f"{txn.card.scheme}:{txn.card.number}") or card_hash(
                txn.card.scheme, txn.card.number
            )
        at = txn.at if txn.at.tzinfo is not None else txn.at.replace(tzinfo=UTC)
        events.append(Told(at, txn.kiosk_id, seq, txn.txn_id, txn.kind, txn.item, reader))
    return events


def known_cards(ledger: Ledger) -> list[tuple[str, str]]:
    """Every reader card the ledger knows, as (scheme, number)."""
    return ledger.known_cards()


def last_told(events: Iterable[Told]) -> dict[str, str | None]:
    """Book -> the reader it was last told lent to, or None when last told returned."""
    holder: dict[str, str | None] = {}
    for event in sorted(events, key=lambda e: (e.at, e.kiosk_id, e.seq)):
        holder[event.item] = event.reader if event.kind == "loan" else None
    return holder


@dataclass
class Audit:
    """What differs between the ledger and what readers were told (empty: nothing)."""

    books: int = 0
    readers: int = 0
    books_wrong: list[str] = field(default_factory=list)
    readers_wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.books_wrong and not self.readers_wrong

    def summary(self, limit: int = 10) -> str:
        lines = [
            f"{len(self.books_wrong)} of {self.books} books and {len(self.readers_wrong)} of "
            f"{self.readers} readers differ from what readers were told"
        ]
        lines += self.books_wrong[:limit] + self.readers_wrong[:limit]
        return "\n".join(lines)


def _who(reader: str | None) -> str:
    return "returned" if reader is None else f"lent to {reader[:10]}"


def audit(ledger: Ledger, told: dict[str, str | None]) -> Audit:
    """Compare `last_told(...)` with the ledger's items and open loans."""
    result = Audit(books=len(told))
    for item, reader in sorted(told.items()):
        record = ledger.item(item)
        loan = ledger.active_loan_for_item(item)
        state = record.state if record is not None else "unknown"
        holder = loan.card_hash if loan is not None else None
        if reader is None:
            right = holder is None and state != "on_loan"
        else:
            right = holder == reader and state == "on_loan"
        if not right:
            result.books_wrong.append(
                f"book {item}: told {_who(reader)}; ledger {state}, {_who(holder)}"
            )
    readers = {reader for reader in told.values() if reader is not None}
    readers |= {
        loan.card_hash
        for item in told
        if (loan := ledger.active_loan_for_item(item)) is not None
    }
    result.readers = len(readers)
    for reader in sorted(readers):
        shown = {item for item, holder in told.items() if holder == reader}
        held = {loan.item for loan in ledger.active_loans(reader) if loan.item in told}
        if shown != held:
            result.readers_wrong.append(
                f"reader {reader[:10]}: told holding {len(shown)} book(s), ledger has "
                f"{len(held)}: missing {sorted(shown - held)[:3]}, extra {sorted(held - shown)[:3]}"
            )
    return result


def loan_history(ledger: Ledger, item: str) -> list[tuple[str, str, str | None]]:
    """(card hash, opened_at, closed_at) of every loan of `item` the ledger holds,
    oldest first: a reader's history of that book."""
    return ledger.loan_history(item)
