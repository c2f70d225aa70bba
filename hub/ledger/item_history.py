"""A book's loans as its readers were told them, whatever order the txns arrived in.

Txns from different kiosks reach the hub in any order (a kiosk offline for hours sends
its loans long after another kiosk took the book back). Each committed txn of an item is
an event at the moment its reader was told (`order_at`: the kiosk's `at`, corrected by
that kiosk's measured clock offset), with the kiosk's journal `seq` deciding within one
kiosk. When a txn arrives that is not the newest event of its item, the item's loans are
derived again from all its events in that order:

- a loan opens, unless the reader already has the book (a double scan: nothing new) or
  another reader's loan is open at that moment — a true conflict, two loans of one book
  overlapping in time: it is left to staff as an `item_on_loan` exception, not opened;
- a return closes the loan open at that moment (none: nothing to close), unless staff
  hold it (`return_implausible`, `returns_over_chute_rate`: hub.ledger.txn_plausibility);
- a renewal by the holder moves the due date.

The item's state follows the last event: on loan while a loan is open, else what the
last return made of it (shelved, in transit, on hold). See docs/ordering.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contract import messages
from hub.ledger.ledger_sql import Database, time_text
from hub.ledger.txn_plausibility import HELD_RETURN_REASONS


@dataclass(frozen=True)
class Event:
    txn_id: str
    kind: str
    card_hash: str | None
    at: str  # as told (time_text)
    due: str | None  # what the ack promised (time_text), loans and renewals
    item_state: str | None  # returns: the state the return left the item in


@dataclass(frozen=True)
class Loan:
    txn_id: str
    card_hash: str
    opened_at: str
    due: str
    renewals: int = 0
    closed_at: str | None = None
    closed_by: str | None = None


def is_newest_event(db: Database, item: str, order_at: str, kiosk_id: str, seq: int | None) -> bool:
    """True when no committed event of `item` comes after this moment: the txn can be
    applied to the item's current state as it stands (the common, cheap case)."""
    later = db.scalar(
        "SELECT count(*) FROM txns WHERE item = ? AND result = 'committed' AND order_at > ?",
        (item, order_at),
    )
    return not later


def rederive(db: Database, item: str) -> list[str]:
    """Derive `item`'s loans and state again from its events in told order; returns the
    txn ids of loans that overlap another reader's (new staff exceptions)."""
    events = _events(db, item)
    loans, conflicts = _fold(events)
    db.execute("DELETE FROM loans WHERE item = ?", (item,))
    for loan in loans:
        db.execute(
            "INSERT INTO loans (item, card_hash, opened_at, due, renewals, closed_at, txn_id, closed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (item, loan.card_hash, loan.opened_at, loan.due, loan.renewals, loan.closed_at,
             loan.txn_id, loan.closed_by),
        )
    open_loan = next((loan for loan in loans if loan.closed_at is None), None)
    if open_loan is not None:
        db.execute("UPDATE items SET state = 'on_loan' WHERE barcode = ?", (item,))
    else:
        last_state = next((e.item_state for e in reversed(events) if e.kind == "return"), None)
        if last_state is not None:
            db.execute("UPDATE items SET state = ? WHERE barcode = ?", (last_state, item))
        else:
            db.execute("UPDATE items SET state = 'on_shelf' WHERE barcode = ? AND state = 'on_loan'", (item,))
    return conflicts


def _events(db: Database, item: str) -> list[Event]:
    """The item's committed events in told order, at the moments the ledger placed them
    (`order_at`, hub.ledger.txn_clock); a return held for staff (hub.ledger.txn_plausibility) is none."""
    held = ", ".join("?" for _ in HELD_RETURN_REASONS)
    rows = db.query(
        "SELECT txn_id, kind, card_hash, order_at, ack_json, item_state FROM txns t"
        " WHERE item = ? AND result = 'committed' AND NOT (kind = 'return' AND EXISTS"
        f" (SELECT 1 FROM exceptions e WHERE e.txn_id = t.txn_id AND e.reason IN ({held})))"
        " ORDER BY order_at, kiosk_id, seq, id",
        (item, *HELD_RETURN_REASONS),
    )
    events = []
    for txn_id, kind, card_hash, at, ack_json, item_state in rows:
        ack = messages.Ack.model_validate_json(ack_json)
        due = time_text(ack.due) if ack.due is not None else None
        events.append(Event(txn_id, kind, card_hash, at, due, item_state))
    return events


def _fold(events: list[Event]) -> tuple[list[Loan], list[str]]:
    loans: list[Loan] = []
    conflicts: list[str] = []
    current: Loan | None = None
    for event in events:
        if event.kind == "loan" and event.card_hash is not None:
            if current is not None:
                if current.card_hash != event.card_hash:
                    conflicts.append(event.txn_id)
                continue
            current = Loan(event.txn_id, event.card_hash, event.at, event.due or event.at)
        elif event.kind == "return":
            if current is not None:
                loans.append(replace(current, closed_at=event.at, closed_by=event.txn_id))
                current = None
        elif event.kind == "renew" and current is not None and current.card_hash == event.card_hash:
            current = replace(current, due=event.due or current.due, renewals=current.renewals + 1)
    if current is not None:
        loans.append(current)
    return loans, conflicts
