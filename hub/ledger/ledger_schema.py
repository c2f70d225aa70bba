"""The ledger's tables: one schema for both dialects (`SCHEMA`, with `{id_pk}` for the
dialect's identity column), and what was added after the first release (`ADDED_COLUMNS`,
`ADDED_INDEXES`), which a ledger made before them gets at open
(hub/ledger/ledger_sql.py, `Database.create_schema`). Only text here: nothing opens a
database.
"""

from __future__ import annotations

import re

SCHEMA = """
CREATE TABLE IF NOT EXISTS readers (
    card_hash TEXT PRIMARY KEY,
    scheme TEXT NOT NULL,
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    block_reason TEXT,
    expires TEXT,
    home_library TEXT,
    pin_hash TEXT,
    pin_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);
CREATE INDEX IF NOT EXISTS readers_state ON readers (state);
CREATE TABLE IF NOT EXISTS items (
    barcode TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    home_library TEXT NOT NULL,
    state TEXT NOT NULL,
    hold_for TEXT,
    loanable INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS items_state ON items (state);
CREATE TABLE IF NOT EXISTS loans (
    id {id_pk},
    item TEXT NOT NULL,
    card_hash TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    due TEXT NOT NULL,
    renewals INTEGER NOT NULL DEFAULT 0,
    closed_at TEXT,
    txn_id TEXT,
    closed_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS loans_active_item ON loans (item) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS loans_active_card ON loans (card_hash) WHERE closed_at IS NULL;
CREATE TABLE IF NOT EXISTS holds (
    id {id_pk},
    item TEXT NOT NULL,
    card_hash TEXT NOT NULL,
    pickup_library TEXT NOT NULL,
    state TEXT NOT NULL,
    placed_at TEXT
);
CREATE INDEX IF NOT EXISTS holds_item ON holds (item, state);
CREATE TABLE IF NOT EXISTS transfers (
    id {id_pk},
    item TEXT NOT NULL,
    from_library TEXT NOT NULL,
    to_library TEXT NOT NULL,
    at TEXT NOT NULL,
    txn_id TEXT
);
CREATE INDEX IF NOT EXISTS transfers_item ON transfers (item);
CREATE TABLE IF NOT EXISTS txns (
    id {id_pk},
    txn_id TEXT NOT NULL UNIQUE,
    kiosk_id TEXT NOT NULL,
    library_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    card_hash TEXT,
    at TEXT NOT NULL,
    mode TEXT NOT NULL,
    result TEXT NOT NULL,
    ack_json TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    seq INTEGER,
    epoch TEXT,
    order_at TEXT,
    item_state TEXT
);
CREATE INDEX IF NOT EXISTS txns_item ON txns (item);
CREATE TABLE IF NOT EXISTS exceptions (
    id {id_pk},
    txn_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    summary TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exceptions_txn ON exceptions (txn_id);
CREATE TABLE IF NOT EXISTS fleet (
    kiosk_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    library_id TEXT,
    firmware TEXT,
    last_seen TEXT,
    telemetry_json TEXT,
    journal_pending INTEGER,
    faults TEXT,
    clock_offset_s REAL,
    clock_sampled_at TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kiosk_order (
    kiosk_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parked (
    kiosk_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    txn_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, epoch, seq)
);
CREATE TABLE IF NOT EXISTS kiosk_epochs (
    kiosk_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    first_at TEXT NOT NULL,
    PRIMARY KEY (kiosk_id, epoch)
);
CREATE TABLE IF NOT EXISTS ils_queue (
    id {id_pk},
    system TEXT NOT NULL,
    op TEXT NOT NULL,
    item TEXT NOT NULL,
    patron_id TEXT,
    card_hash TEXT,
    txn_id TEXT,
    kiosk_id TEXT,
    library_id TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    due TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS ils_queue_waiting ON ils_queue (system, state, id);
CREATE INDEX IF NOT EXISTS ils_queue_item ON ils_queue (item, op, state);
CREATE TABLE IF NOT EXISTS kiosk_flags (
    kiosk_id TEXT NOT NULL,
    flag TEXT NOT NULL,
    detail TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (kiosk_id, flag)
);
CREATE TABLE IF NOT EXISTS kiosk_presence (
    id {id_pk},
    kiosk_id TEXT NOT NULL,
    from_at TEXT NOT NULL,
    to_at TEXT NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS kiosk_presence_kiosk ON kiosk_presence (kiosk_id, id);
CREATE INDEX IF NOT EXISTS kiosk_presence_until ON kiosk_presence (kiosk_id, to_at);
CREATE TABLE IF NOT EXISTS ils_links (
    system TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    last_error TEXT,
    changed_at TEXT,
    checked_at TEXT,
    lease_worker TEXT,
    lease_until TEXT
);
CREATE TABLE IF NOT EXISTS ecard_uses (
    token_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    used_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ecard_uses_at ON ecard_uses (used_at);
"""

SCHEMA_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))

# Columns added after the first release: a ledger made before them gets them at open.
ADDED_COLUMNS = (
    ("loans", "closed_by", "TEXT"),
    ("txns", "seq", "INTEGER"),
    ("txns", "epoch", "TEXT"),
    ("txns", "order_at", "TEXT"),
    ("txns", "item_state", "TEXT"),
    ("fleet", "clock_offset_s", "REAL"),
    ("fleet", "clock_sampled_at", "TEXT"),
    ("readers", "locked_by", "TEXT"),
    ("ils_queue", "checkin_started_at", "TEXT"),  # hub/ledger/ils_live.py
    # a live checkin's route, as the system answered it (hub.ledger.ils_live_checkin.live_route)
    ("ils_queue", "route", "TEXT"),
    ("ils_queue", "route_library", "TEXT"),
    # staff close an exception with a record (hub.ledger.staff_exceptions)
    ("exceptions", "resolved_at", "TEXT"),
    ("exceptions", "resolved_by", "TEXT"),
    ("exceptions", "resolved_note", "TEXT"),
)

# Indexes on added columns: made after them. What a kiosk's txns claimed
# lately (hub.ledger.txn_plausibility, hub.ledger.txn_clock) is read by these.
ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS txns_kiosk_at ON txns (kiosk_id, order_at)",
)
