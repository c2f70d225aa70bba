"""Putting readers, items and holds into the ledger: the demo catalogue in bulk, or one
row at a time for tests and staff tools.

The demo data comes from `hub.ledger.catalogue` (deterministic), so the readers `python -m hub
demo` lists, with their PINs, are the readers a seeded ledger holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from contract.privacy import card_hash
from hub.ledger import catalogue
from hub.ledger.ledger_sql import Database, time_text
from hub.ledger.pins import DEMO_SEED_COST, PinPeppers, hash_pin
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord, ReaderRecord

ProgressCallback = Callable[[str, int, int], None]
"""Called as (stage, done, total) while seeding; stage is "items", "readers" or "holds"."""

_BATCH = 5_000  # items per INSERT batch: bounded memory, few round trips
_HOLDS_PLACED = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeedCounts:
    """Rows seeded (all zero when the ledger already had items)."""

    items: int
    readers: int
    holds: int


def seed_demo(
    db: Database,
    registry: Registry,
    peppers: PinPeppers,
    progress: ProgressCallback | None = None,
    per_member: int = 400,
) -> SeedCounts:
    """Load the generated catalogue, demo readers and holds into an empty ledger in one
    transaction (a half-seeded ledger never exists). No-op when items exist. Demo PINs are
    hashed at `DEMO_SEED_COST` (demo data only; upgraded at each reader's next right PIN)."""
    report = progress or (lambda stage, done, total: None)
    items = list(catalogue.generate_items(registry, per_member=per_member))
    readers = catalogue.generate_readers(registry)
    holds = _demo_holds(registry)
    with db.write():
        if db.scalar("SELECT COUNT(*) FROM items"):
            return SeedCounts(0, 0, 0)
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            db.executemany(
                "INSERT INTO items (barcode, title, home_library, state, hold_for, loanable)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (barcode) DO NOTHING",
                (
                    (i.barcode, i.title, i.home_library, i.state, i.hold_for, int(bool(i.loanable)))
                    for i in chunk
                ),
            )
            report("items", start + len(chunk), len(items))
        rows = []
        for n, r in enumerate(readers, 1):
            rows.append(
                (
                    card_hash(r.scheme, r.number),
                    r.scheme,
                    r.number,
                    r.name,
                    r.state,
                    r.block_reason,
                    _date_text(r.expires),
                    r.home_library,
                    hash_pin(r.pin, peppers, DEMO_SEED_COST) if r.pin else None,
                )
            )
            if n % 200 == 0:
                report("readers", n, len(readers))
        db.executemany(
            "INSERT INTO readers (card_hash, scheme, number, name, state, block_reason, expires,"
            " home_library, pin_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (card_hash) DO NOTHING",
            rows,
        )
        report("readers", len(readers), len(readers))
        db.executemany(
            "INSERT INTO holds (item, card_hash, pickup_library, state, placed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            holds,
        )
        report("holds", len(holds), len(holds))
    return SeedCounts(len(items), len(readers), len(holds))


def add_reader(db: Database, reader: ReaderRecord, peppers: PinPeppers, pin: str | None = None) -> str:
    """Insert or replace one reader, clearing any PIN lockout; returns its card hash."""
    key = card_hash(reader.scheme, reader.number)
    db.execute(
        "INSERT INTO readers (card_hash, scheme, number, name, state, block_reason, expires,"
        " home_library, pin_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (card_hash) DO UPDATE SET name = excluded.name, state = excluded.state,"
        " block_reason = excluded.block_reason, expires = excluded.expires,"
        " home_library = excluded.home_library, pin_hash = excluded.pin_hash,"
        " pin_failures = 0, locked_until = NULL",
        (
            key,
            reader.scheme,
            reader.number,
            reader.name,
            reader.state,
            reader.block_reason,
            _date_text(reader.expires),
            reader.home_library,
            hash_pin(pin, peppers) if pin else None,
        ),
    )
    return key


def add_item(db: Database, item: ItemRecord) -> None:
    """Insert or replace one item."""
    db.execute(
        "INSERT INTO items (barcode, title, home_library, state, hold_for, loanable)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (barcode) DO UPDATE SET title = excluded.title,"
        " home_library = excluded.home_library, state = excluded.state,"
        " hold_for = excluded.hold_for, loanable = excluded.loanable",
        (item.barcode, item.title, item.home_library, item.state, item.hold_for, int(bool(item.loanable))),
    )


def place_hold(db: Database, item: str, reader_hash: str, pickup_library: str, at: datetime) -> None:
    """A waiting hold on `item` for the reader, to be picked up at `pickup_library`."""
    db.execute(
        "INSERT INTO holds (item, card_hash, pickup_library, state, placed_at)"
        " VALUES (?, ?, ?, 'waiting', ?)",
        (item, reader_hash, pickup_library, time_text(at)),
    )


def _date_text(day: date | None) -> str | None:
    """An expiry date as the ledger stores it (ISO 8601); a datetime counts by its date."""
    if day is None:
        return None
    if isinstance(day, datetime):
        return day.date().isoformat()
    return day.isoformat()


def _demo_holds(registry: Registry) -> list[tuple[str, str, str, str, str]]:
    """Rows for the holds table: an item already on the hold shelf is "ready", one still
    on loan is "waiting" (its return routes to the pickup library)."""
    placed = time_text(_HOLDS_PLACED)
    return [
        (h.barcode, h.reader_hash, h.pickup_library, "ready" if h.item_state == "on_hold" else "waiting", placed)
        for h in catalogue.demo_holds(registry)
    ]
