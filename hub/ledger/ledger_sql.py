"""The ledger's SQL layer: one schema, two dialects (SQLite, PostgreSQL), no ORM.

The ledger writes plain SQL with `?` placeholders and `ON CONFLICT` clauses, which both
SQLite (>= 3.24) and PostgreSQL understand. This module hides the rest: placeholder
style, identity columns, how a write transaction starts (SQLite takes its write lock up
front with BEGIN IMMEDIATE so two processes never deadlock on lock upgrade) and where
the tables live (a PostgreSQL schema named in the URL, so tests and tenants can share a
server without colliding). Timestamps are stored as text in one form (`time_text`) that
both dialects compare correctly.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contract.private_files import make_private


class LedgerUrlError(ValueError):
    """A --db URL the ledger cannot open; the message says what a valid one looks like."""


Row = tuple[Any, ...]


def time_text(moment: datetime) -> str:
    """One text form for every timestamp in both dialects: UTC ISO 8601 with offset,
    microseconds always present, so text order is time order. A naive moment is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time_text(text: str | None) -> datetime | None:
    """The moment `time_text` stored (None for a NULL column)."""
    return None if text is None else datetime.fromisoformat(text)


_SCHEMA = """
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
"""

SCHEMA_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA))

# Columns added after the first release: a ledger made before them gets them at open.
_ADDED_COLUMNS = (
    ("loans", "closed_by", "TEXT"),
    ("txns", "seq", "INTEGER"),
    ("txns", "epoch", "TEXT"),
    ("txns", "order_at", "TEXT"),
    ("txns", "item_state", "TEXT"),
    ("fleet", "clock_offset_s", "REAL"),
    ("fleet", "clock_sampled_at", "TEXT"),
    ("readers", "locked_by", "TEXT"),
    ("ils_queue", "checkin_started_at", "TEXT"),  # hub/ledger/ils_live.py
    # a live checkin's route, as the system answered it (hub.ledger.ils_queue.live_route)
    ("ils_queue", "route", "TEXT"),
    ("ils_queue", "route_library", "TEXT"),
    # staff close an exception with a record (hub.ledger.staff_exceptions)
    ("exceptions", "resolved_at", "TEXT"),
    ("exceptions", "resolved_by", "TEXT"),
    ("exceptions", "resolved_note", "TEXT"),
)

# Indexes on added columns: made after them. What a kiosk's txns claimed
# lately (hub.ledger.txn_plausibility, hub.ledger.txn_clock) is read by these.
_ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS txns_kiosk_at ON txns (kiosk_id, order_at)",
)


class Database:
    """A connection of one dialect. Safe to share between threads (one lock per
    connection), because paho runs callbacks on its own thread while callers query."""

    dialect: str = ""
    id_pk: str = ""  # the identity primary key column type of the dialect
    IntegrityError: type[Exception] = Exception
    RetryableError: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- to be provided per dialect --
    def _sql(self, sql: str) -> str:
        return sql

    def _raw_execute(self, sql: str, params: Sequence[Any]) -> Any:
        raise NotImplementedError

    def _raw_executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextmanager
    def write(self) -> Iterator[Database]:
        raise NotImplementedError
        yield self

    def close(self) -> None:
        raise NotImplementedError

    # -- shared --
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the affected row count."""
        with self._lock:
            cur = self._raw_execute(self._sql(sql), params)
            return cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._raw_executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return list(self._raw_execute(self._sql(sql), params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock:
            return self._raw_execute(self._sql(sql), params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent; safe when workers start together)."""
        if self._schema_exists():
            return  # a read: opening a ledger to count rows must not wait for a writer
        ddl = _SCHEMA.format(id_pk=self.id_pk)
        with self.write():
            self._lock_schema()
            for stmt in ddl.split(";"):
                if stmt.strip():
                    self.execute(stmt)
            for table, column, kind in _ADDED_COLUMNS:
                if column not in self._columns(table):
                    self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            for index in _ADDED_INDEXES:
                self.execute(index)
            self.execute("UPDATE txns SET order_at = at WHERE order_at IS NULL")

    def _columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def _schema_exists(self) -> bool:
        """True when every table of the schema and every added column is already there
        (so a ledger made by an older release gets what is new at open)."""
        if not set(SCHEMA_TABLES) <= self._tables():
            return False
        return all(column in self._columns(table) for table, column, _kind in _ADDED_COLUMNS)

    def _tables(self) -> set[str]:
        raise NotImplementedError

    def _lock_schema(self) -> None:
        pass


class SqliteDatabase(Database):
    """SQLite in WAL mode with synchronous=FULL: a commit survives a power cut."""

    dialect = "sqlite"
    IntegrityError = sqlite3.IntegrityError
    RetryableError = (sqlite3.OperationalError,)
    id_pk = "INTEGER PRIMARY KEY"

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000) -> None:
        super().__init__()
        self.path = path
        if str(path) != ":memory:":
            # 0600 before SQLite opens it: its -wal and -shm files take the same mode.
            make_private(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (BEGIN IMMEDIATE for writes).
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    def _tables(self) -> set[str]:
        return {row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type='table'")}

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.query(f"PRAGMA table_info({table})")}

    def _raw_execute(self, sql: str, params: Sequence[Any]) -> Any:
        return self._conn.execute(sql, tuple(params))

    def _raw_executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    @contextmanager
    def write(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE: take the write lock now (waiting up to busy_timeout), so a
        read-then-write never fails half way on lock upgrade."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresDatabase(Database):
    """PostgreSQL through psycopg 3; `?schema=NAME` in the URL selects (and creates) a
    schema, so several ledgers can live in one database."""

    dialect = "postgresql"
    id_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg  # only needed when a PostgreSQL ledger is opened

        self._psycopg = psycopg
        self.IntegrityError = psycopg.errors.IntegrityError
        self.RetryableError = (
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
        )
        conninfo, schema = _split_schema(url)
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LedgerUrlError(f"cannot connect to PostgreSQL: {first}") from None
        self.schema = schema
        if schema:
            from psycopg import sql

            self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            self._conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

    _qmark = re.compile(r"\?")

    def _sql(self, sql: str) -> str:
        # Our SQL never holds a literal "?" or "%", so a plain swap is enough.
        return self._qmark.sub("%s", sql)

    def _raw_execute(self, sql: str, params: Sequence[Any]) -> Any:
        return self._conn.execute(sql, tuple(params) if params else None)

    def _raw_executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])

    @contextmanager
    def write(self) -> Iterator[Database]:
        with self._lock, self._conn.transaction():
            yield self

    def _tables(self) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {row[0] for row in rows}

    def _columns(self, table: str) -> set[str]:
        rows = self.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        )
        return {row[0] for row in rows}

    def _lock_schema(self) -> None:
        # CREATE TABLE IF NOT EXISTS races between sessions; serialise it.
        self.execute("SELECT pg_advisory_xact_lock(7201201)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _split_schema(url: str) -> tuple[str, str | None]:
    """Take our own `schema=` query parameter out of a libpq URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    if schema is not None and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise LedgerUrlError(f"bad schema name in --db URL: {schema!r} (use [a-z_][a-z0-9_]*)")
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def check_url(url: str) -> str:
    """The dialect of a ledger URL (`sqlite` or `postgresql`), judged by its form alone,
    opening nothing; LedgerUrlError in words for one `open_database` could not open."""
    if not isinstance(url, str) or "://" not in url:
        raise LedgerUrlError(
            f"not a database URL: {url!r} (expected sqlite:///path or postgresql://user@host/db)"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise LedgerUrlError(f"sqlite URL needs three slashes: sqlite:///path (got {url!r})")
        if not rest[1:]:
            raise LedgerUrlError("sqlite URL has no file path: use sqlite:///var/hub.sqlite")
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise LedgerUrlError(f"unsupported database {scheme!r}: use sqlite:///path or postgresql://...")


def open_database(url: str) -> Database:
    """`sqlite:///relative/or/absolute/path`, `sqlite:///:memory:` or
    `postgresql://user@host:port/db[?schema=name]`."""
    if check_url(url) == "sqlite":
        path_text = url.split("://", 1)[1][1:]
        path = Path(path_text)
        if path_text != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerUrlError(f"cannot create the folder for {path}: {exc.strerror}") from None
        try:
            return SqliteDatabase(path)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerUrlError(f"cannot open SQLite ledger {path}: {exc}") from None
    return PostgresDatabase(url)
