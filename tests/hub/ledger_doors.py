"""Doors into the ledger that only tests use: commit one txn and get its ack alone, count
txn rows, read a book's transfers, a system's SIP2 calls and a kiosk's presence, put a
book or a hold in. The hub's own code goes through `hub.ledger.ledger.Ledger`; these were its
methods once, and moved here so the ledger's class shows what the hub really calls.

Each takes the test's `Ledger` and hands its database to the module that owns the table.
"""

from __future__ import annotations

from datetime import datetime

from contract import messages
from hub.ledger import commits, ils_queue, kiosk_presence, queries, seeding
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord


def commit_txn(ledger: Ledger, txn: messages.Txn, registry: Registry, now: datetime) -> messages.Ack | None:
    """`Ledger.commit` answering for `txn` alone: its ack, or None while it is parked."""
    acks = commits.commit(ledger.db, txn, registry, now)
    return next((ack for ack in acks if ack.txn_id == txn.txn_id), None)


def txn_rows(ledger: Ledger, txn_id: str | None = None) -> int:
    """Committed txn rows (of one txn id, or all)."""
    return queries.txn_rows(ledger.db, txn_id)


def transfers(ledger: Ledger, barcode: str) -> list[tuple[str, str]]:
    """A book's transfers, oldest first, as (from_library, to_library)."""
    return queries.transfers(ledger.db, barcode)


def ils_calls(ledger: Ledger, system: str | None = None) -> list[tuple[str, str, str, str | None, str]]:
    """The SIP2 calls the ledger recorded (hub.ledger.ils_queue.calls)."""
    return ils_queue.calls(ledger.db, system)


def presence(ledger: Ledger, kiosk_id: str) -> list[tuple[datetime, datetime, bool]]:
    """When the hub heard a kiosk (hub.ledger.kiosk_presence.intervals)."""
    return kiosk_presence.intervals(ledger.db, kiosk_id)


def add_item(ledger: Ledger, item: ItemRecord) -> None:
    seeding.add_item(ledger.db, item)


def place_hold(ledger: Ledger, item: str, reader_hash: str, pickup_library: str, at: datetime) -> None:
    seeding.place_hold(ledger.db, item, reader_hash, pickup_library, at)
