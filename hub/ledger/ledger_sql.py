"""The ledger's SQL layer: one schema, two dialects (SQLite, PostgreSQL), no ORM.

The ledger writes plain SQL with `?` placeholders and `ON CONFLICT` clauses, which both
SQLite (>= 3.24) and PostgreSQL understand. This module hides the rest: placeholder
style, identity columns, how a write transaction starts (SQLite takes its write lock up
front with BEGIN IMMEDIATE so two processes never deadlock on lock upgrade) and where
the tables live (a PostgreSQL schema named in the URL, so tests and tenants can share a
server without colliding). Timestamps are stored as text in one form (`time_text`) that
both dialects compare correctly. The tables themselves are hub/ledger/ledger_schema.py's;
`Database.create_schema` makes them, and adds what is new to an older ledger, at open.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contract.private_files import make_private
from hub.ledger.ledger_schema import ADDED_COLUMNS, ADDED_INDEXES, SCHEMA, SCHEMA_TABLES


class LedgerUrlError(ValueError):
    """A --db URL the ledger cannot open; the message says what a valid one looks like."""


class TransactionLost(RuntimeError):
    """The write transaction a savepoint lived in is gone (the database rolled it back
    itself, or the connection broke): nothing of it will commit, so no caller may go on
    as if the work before the savepoint still stood."""


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

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        """Inside `write()`: the work of the block undone alone when it raises (the
        exception propagates, the transaction around it stands and goes on), kept when it
        does not. `TransactionLost` instead when the transaction itself did not survive
        the error. So one bad item of a batch never costs its neighbours."""
        raise NotImplementedError
        yield self

    def close(self) -> None:
        """Close the connection, once the call under way on it (another thread's) is done:
        a stop that cannot wait for a server that does not answer `cut()`s first."""
        raise NotImplementedError

    def cut(self) -> None:
        """Break the connection under whatever call is waiting on it now (any thread; it
        fails at once) and open no new one: for a stop that must not wait on a database that
        does not answer (a frozen or unreachable server). A transaction cut short is not
        committed; it is as if the server had crashed under it."""
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
        ddl = SCHEMA.format(id_pk=self.id_pk)
        with self.write():
            self._lock_schema()
            for stmt in ddl.split(";"):
                if stmt.strip():
                    self.execute(stmt)
            for table, column, kind in ADDED_COLUMNS:
                if column not in self._columns(table):
                    self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            for index in ADDED_INDEXES:
                self.execute(index)
            self.execute("UPDATE txns SET order_at = at WHERE order_at IS NULL")

    def _columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def _schema_exists(self) -> bool:
        """True when every table of the schema and every added column is already there
        (so a ledger made by an older release gets what is new at open)."""
        if not set(SCHEMA_TABLES) <= self._tables():
            return False
        return all(column in self._columns(table) for table, column, _kind in ADDED_COLUMNS)

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
                if self._conn.in_transaction:  # some errors (disk full, I/O) roll back by themselves
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a COMMIT that failed (busy) leaves it open
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        with self._lock:
            if not self._conn.in_transaction:
                raise TransactionLost("savepoint outside a write transaction")
            self._conn.execute("SAVEPOINT item")
            try:
                yield self
            except BaseException as exc:
                if not self._conn.in_transaction:
                    raise TransactionLost(f"SQLite rolled the transaction back: {type(exc).__name__}") from exc
                self._conn.execute("ROLLBACK TO SAVEPOINT item")
                self._conn.execute("RELEASE SAVEPOINT item")
                raise
            self._conn.execute("RELEASE SAVEPOINT item")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def cut(self) -> None:
        # SQLite waits only on its busy timeout; an interrupted statement ends at once.
        with contextlib.suppress(sqlite3.Error):
            self._conn.interrupt()


class PostgresDatabase(Database):
    """PostgreSQL through psycopg 3; `?schema=NAME` in the URL selects (and creates) a
    schema, so several ledgers can live in one database."""

    dialect = "postgresql"
    id_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    # What a connection gets unless the URL says otherwise. libpq waits for ever (psycopg
    # 130 s) on a server that takes the TCP connection and never answers (frozen, or a
    # host gone in the middle), and a call on a connection whose peer vanished without a
    # FIN waits out TCP's retransmissions (~15 min): the keepalives and tcp_user_timeout
    # notice a dead peer in about half a minute. (A frozen server on a live host keeps
    # answering TCP: only `cut()` ends a call waiting on it.)
    CONNECT_DEFAULTS: ClassVar[dict[str, str]] = {
        "connect_timeout": "5",
        "keepalives": "1",
        "keepalives_idle": "10",
        "keepalives_interval": "5",
        "keepalives_count": "3",
        "tcp_user_timeout": "30000",
    }

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg  # only needed when a PostgreSQL ledger is opened
        from psycopg import conninfo as pg_conninfo

        self._psycopg = psycopg
        self.IntegrityError = psycopg.errors.IntegrityError
        self.RetryableError = (
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
        )
        conninfo, self.schema = _split_schema(url)
        given = pg_conninfo.conninfo_to_dict(conninfo)
        defaults = {k: v for k, v in self.CONNECT_DEFAULTS.items() if k not in given}
        self._conninfo = pg_conninfo.make_conninfo(conninfo, **defaults)
        self._writing = 0  # write() blocks open on this connection
        self._cut = False  # cut(): no connection is made again
        try:
            self._conn = self._connect()
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LedgerUrlError(f"cannot connect to PostgreSQL: {first}") from None

    def _connect(self) -> Any:
        conn = self._psycopg.connect(self._conninfo, autocommit=True)
        if self.schema:
            from psycopg import sql

            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        return conn

    def _live(self) -> Any:
        """The connection, made again when the server dropped it (a restart, a failover):
        the statement that met the dead connection failed, and its caller retries as it
        would any failure (a kiosk's txn is sent again); the next one finds a live
        connection instead of failing for ever. Found by the chaos soak (bench/chaos.py).
        Raises psycopg.OperationalError while the server is still down, and once `cut()`."""
        if self._writing == 0 and (self._conn.broken or self._conn.closed):
            if self._cut:
                raise self._psycopg.OperationalError("the ledger's connection was cut or closed (its worker is stopping)")
            self._conn = self._connect()  # never inside a transaction: its statements die with it
            if self._cut:  # cut while connecting: the new connection is not used either
                self._conn.close()
                raise self._psycopg.OperationalError("the ledger's connection was cut (its worker is stopping)")
        return self._conn

    _qmark = re.compile(r"\?")

    def _sql(self, sql: str) -> str:
        # Our SQL never holds a literal "?" or "%", so a plain swap is enough.
        return self._qmark.sub("%s", sql)

    def _raw_execute(self, sql: str, params: Sequence[Any]) -> Any:
        return self._live().execute(sql, tuple(params) if params else None)

    def _raw_executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._live().cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])

    @contextmanager
    def write(self) -> Iterator[Database]:
        with self._lock, self._live().transaction():
            self._writing += 1
            try:
                yield self
            finally:
                self._writing -= 1

    @contextmanager
    def savepoint(self) -> Iterator[Database]:
        # psycopg makes a nested transaction() a SAVEPOINT, rolled back to on an exception.
        from psycopg.pq import TransactionStatus

        with self._lock:
            if self._conn.info.transaction_status != TransactionStatus.INTRANS:
                raise TransactionLost("savepoint outside a write transaction")
            try:
                with self._conn.transaction():
                    yield self
            except BaseException as exc:
                if self._conn.info.transaction_status != TransactionStatus.INTRANS:
                    raise TransactionLost(f"PostgreSQL lost the transaction: {type(exc).__name__}") from exc
                raise

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
            self._cut = True  # a thread that comes after makes no connection again
            self._conn.close()

    def cut(self) -> None:
        """Shut the socket down under the call waiting on it (no lock taken: the waiting
        thread holds it): the call reads the end of the connection and fails at once, as
        when the server crashed. Closing the descriptor alone would not wake its poll()."""
        self._cut = True
        with contextlib.suppress(OSError, self._psycopg.Error):
            fd = os.dup(self._conn.pgconn.socket)  # raises once the connection is closed
            with socket.socket(fileno=fd) as sock:
                sock.shutdown(socket.SHUT_RDWR)


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
