"""The kiosk's transaction journal: an SQLite outbox that makes the reader's receipt true.

docs/architecture.md: a loan or return is committed here (WAL, ``synchronous=FULL``, so fsync'd)
before the reader is told it happened; the hub link publishes rows and a row is done only
when the hub's ack for its ``txn_id`` arrives. Rejected and exception rows stay for staff.

The journal keeps durable facts only: a row is ``pending`` (never published), ``sent``
(published at least once: ``attempts`` times, the last at ``sent_at``), or ended by the
hub's ack (``acked``, ``rejected``, ``exception``). When to publish a row again is not
decided here: the hub link's outbox (`firmware.hub_link.outbox`) owns that rule and the
clock it runs on; `unacked` hands it every row still waiting, in journal order.

Failures are typed (`JournalError.code`): ``journal-disk-full``, ``journal-corrupt`` and
``journal-io``. A corrupt file is never deleted, moved or rewritten: the journal refuses
to open it, so a technician can copy it off the kiosk for recovery.

At rest (docs/security.md): the file, its ``-wal`` and ``-shm`` are 0600. A row keeps the
reader's card number only while it still has to be sent: when the hub acks it
``acked``, the number is replaced by a keyed hash (`keyed_card_number`). Rejected and
exception rows keep it for staff.

One connection serves all threads (the shell records, the hub link's pump sends and
acks), guarded by a lock: SQLite serialises writers anyway, and one connection keeps
every write on the same fsync'd path.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.messages import Ack, CardRef, Txn, encode, with_order
from contract.private_files import make_private

log = logging.getLogger(__name__)

STATUSES = ("pending", "sent", "acked", "rejected", "exception")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id TEXT NOT NULL UNIQUE,
    item TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'acked', 'rejected', 'exception')),
    created_at REAL NOT NULL,
    sent_at REAL,
    acked_at REAL,
    ack TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rows_status_seq ON rows (status, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rows_item ON rows (item);
"""

_SQLITE_FULL = getattr(sqlite3, "SQLITE_FULL", 13)
_SQLITE_CORRUPT = getattr(sqlite3, "SQLITE_CORRUPT", 11)
_SQLITE_NOTADB = getattr(sqlite3, "SQLITE_NOTADB", 26)


class JournalError(Exception):
    """The journal cannot do its job; `code` and `hint` are what a technician needs."""

    def __init__(self, code: str, hint: str) -> None:
        super().__init__(f"{code}: {hint}")
        self.code = code
        self.hint = hint


@dataclass(frozen=True)
class JournalRow:
    """One row as staff see it (technician screen, `rows_for_item`)."""

    seq: int
    txn: Txn
    status: str
    created_at: float
    sent_at: float | None
    acked_at: float | None
    ack: Ack | None
    attempts: int


def _classify(exc: BaseException, path: Path) -> JournalError:
    """Map sqlite3/OS errors to the three journal fault codes."""
    if isinstance(exc, JournalError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return JournalError("journal-disk-full", f"no space left for {path}: free disk space")
    if (code is not None and (code & 0xFF) == _SQLITE_FULL) or "database or disk is full" in text:
        return JournalError("journal-disk-full", f"{path} is full: free disk space")
    if (code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)) or (
        "not a database" in text or "malformed" in text
    ):
        return JournalError(
            "journal-corrupt",
            f"{path} is damaged ({exc}); it was left untouched: copy it off for recovery",
        )
    return JournalError("journal-io", f"{path}: {exc}")


class Journal:
    """The outbox. Every write commits (fsync'd) before the method returns."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self.epoch: str = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        self._card_key = bytes.fromhex(
            conn.execute("SELECT value FROM meta WHERE key = 'card_key'").fetchone()[0]
        )
        self._lock = threading.RLock()
        self._broken: JournalError | None = None

    # ---- opening and closing ----

    @classmethod
    def open(cls, path: Path | str, *, max_page_count: int | None = None) -> Journal:
        """Open (or create) the journal at `path` and check its integrity. Rows that were
        in flight when the last process stopped are still unacked, so they are sent again
        (the hub acks a repeat as a duplicate). `max_page_count` caps the file's size:
        tests use it to make the database "full"; a deployment may use it to bound it."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 0600 before SQLite opens it: its -wal and -shm files take the same mode.
            make_private(path)
            conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except (sqlite3.Error, OSError) as exc:
            raise _classify(exc, path) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchall()
            if [tuple(r) for r in check] != [("ok",)]:
                detail = "; ".join(str(r[0]) for r in check[:3])
                raise JournalError(
                    "journal-corrupt",
                    f"{path} failed its integrity check ({detail}); it was left untouched: "
                    "copy it off for recovery",
                )
            conn.executescript(_SCHEMA)
            # The journal's epoch: `seq` counts within it. A replaced journal file starts
            # a new epoch, so the hub never mistakes its seq 1 for an old journal's.
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", (secrets.token_hex(8),)
            )
            # The key of the card hashes acked rows keep instead of the number (see
            # `keyed_card_number`); it never leaves this file, so the hashes cannot be
            # matched against a list of all card numbers without it.
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('card_key', ?)",
                (secrets.token_hex(32),),
            )
            if max_page_count is not None:
                conn.execute(f"PRAGMA max_page_count={int(max_page_count)}").fetchone()
            return cls(conn, path)
        except (sqlite3.Error, OSError, JournalError) as exc:
            conn.close()
            raise _classify(exc, path) from exc

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    # ---- plumbing ----

    @contextmanager
    def _guard(self, write: bool) -> Iterator[sqlite3.Connection]:
        """Run under the lock, map errors; after a corrupt error refuse every later write."""
        with self._lock:
            if write and self._broken is not None:
                raise self._broken
            try:
                yield self._conn
            except (sqlite3.Error, OSError) as exc:
                err = _classify(exc, self._path)
                if err.code == "journal-corrupt":
                    self._broken = err
                raise err from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._guard(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ---- writing ----

    def record(self, txn: Txn, *, now: float | None = None) -> None:
        """Append `txn` as pending; on return it is on disk (fsync'd). A repeated
        `txn_id` is a caller bug and raises JournalError("journal-io")."""
        created = time.time() if now is None else now
        payload = encode(txn).decode("utf-8")
        with self._guard(write=True) as conn:
            try:
                conn.execute(
                    "INSERT INTO rows (txn_id, item, payload, status, created_at) "
                    "VALUES (?, ?, ?, 'pending', ?)",
                    (txn.txn_id, txn.item, payload, created),
                )
            except sqlite3.IntegrityError as exc:
                raise JournalError("journal-io", f"txn_id {txn.txn_id} already recorded") from exc

    def mark_sent(self, txn_ids: Iterable[str], *, now: float | None = None) -> None:
        """These rows were published (again): status ``sent``, one more attempt, `sent_at`
        the wall-clock time (for staff; nothing schedules by it). Acked rows stay acked."""
        ids = list(txn_ids)
        if not ids:
            return
        sent = time.time() if now is None else now
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE rows SET status='sent', sent_at=?, attempts=attempts+1 "
                "WHERE txn_id=? AND status IN ('pending', 'sent')",
                [(sent, i) for i in ids],
            )

    def mark_acked(self, ack: Ack, *, now: float | None = None) -> bool:
        """Apply the hub's ack; True when it changed a row (False: unknown or repeat)."""
        return bool(self.mark_acked_many([ack], now=now))

    def mark_acked_many(self, acks: Iterable[Ack], *, now: float | None = None) -> list[Ack]:
        """Apply many acks in one commit; returns the acks that changed a row.
        committed/duplicate -> acked (or exception when the hub holds it for staff),
        rejected -> rejected; both of the latter are kept for staff."""
        acked_at = time.time() if now is None else now
        changed: list[Ack] = []
        with self._transaction() as conn:
            for ack in acks:
                if ack.result == "rejected":
                    status = "rejected"
                elif ack.exception:
                    status = "exception"
                else:
                    status = "acked"
                forgotten = self._forget_card(conn, ack.txn_id) if status == "acked" else None
                cur = conn.execute(
                    "UPDATE rows SET status=?, acked_at=?, ack=?, payload=coalesce(?, payload) "
                    "WHERE txn_id=? AND status IN ('pending', 'sent')",
                    (status, acked_at, encode(ack).decode("utf-8"), forgotten, ack.txn_id),
                )
                if cur.rowcount:
                    changed.append(ack)
        return changed

    def keyed_card_number(self, scheme: str, number: str) -> str:
        """What an acked row keeps in place of a card number: `h` and the first 16 hex
        digits of HMAC-SHA256(this journal's key, "scheme:number"). It still fits the
        contract's `CardNumber`, so the row still parses; the same card gives the same
        value within one journal file, and nothing outside it can recompute it."""
        digest = hmac.new(self._card_key, f"{scheme}:{number}".encode(), hashlib.sha256)
        return "h" + digest.hexdigest()[:16]

    def _forget_card(self, conn: sqlite3.Connection, txn_id: str) -> str | None:
        """The unacked row's payload with its card number replaced by its keyed hash;
        None when there is no such row or it has no card. The hub has the number now:
        the row is never sent again, so the kiosk need not keep it."""
        row = conn.execute(
            "SELECT payload FROM rows WHERE txn_id=? AND status IN ('pending', 'sent')", (txn_id,)
        ).fetchone()
        if row is None:
            return None
        txn = Txn.model_validate_json(row[0])
        if txn.card is None:
            return None
        number = self.keyed_card_number(txn.card.scheme, txn.card.number)
        hashed = CardRef(scheme=txn.card.scheme, number=number)
        return encode(txn.model_copy(update={"card": hashed})).decode("utf-8")

    def prune_acked(self, older_than_s: float, *, now: float | None = None) -> int:
        """Delete acked rows acked more than `older_than_s` ago (rejected and exception
        rows stay for staff); returns how many were deleted. The newest row always stays,
        so `last_txn_id` survives and ids are never reissued after a clock step back."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._guard(write=True) as conn:
            return conn.execute(
                "DELETE FROM rows WHERE status='acked' AND acked_at < ? "
                "AND seq < (SELECT max(seq) FROM rows)",
                (cutoff,),
            ).rowcount

    # ---- reading ----

    def unacked(self, limit: int = 100) -> list[Txn]:
        """The first `limit` rows still waiting for the hub's ack (pending or sent), in
        journal order."""
        return [Txn.model_validate_json(p) for _t, p in self.unacked_raw(limit)]

    def unacked_raw(self, limit: int = 100) -> list[tuple[str, bytes]]:
        """As `unacked`, as (txn_id, encoded payload) pairs: the hub link publishes the
        stored bytes without parsing them again (a 10,000-row backlog drains faster).

        Each payload carries its order (`seq`, `epoch`) and the oldest unacked row
        (`floor`), so the hub applies this kiosk's rows strictly in journal order."""
        with self._guard(write=False) as conn:
            rows = conn.execute(
                "SELECT seq, txn_id, payload FROM rows WHERE status IN ('pending', 'sent') "
                "ORDER BY seq LIMIT ?",
                (int(limit),),
            ).fetchall()
        if not rows:
            return []
        floor = rows[0][0]
        return [(r[1], with_order(r[2].encode("utf-8"), r[0], self.epoch, floor)) for r in rows]

    def depth(self) -> int:
        """Rows waiting for the hub's ack."""
        with self._guard(write=False) as conn:
            return conn.execute(
                "SELECT count(*) FROM rows WHERE status IN ('pending', 'sent')"
            ).fetchone()[0]

    def oldest_pending_age_s(self, now: float | None = None) -> float | None:
        """Seconds since the oldest unacked row was recorded, None when there is none."""
        with self._guard(write=False) as conn:
            oldest = conn.execute(
                "SELECT min(created_at) FROM rows WHERE status IN ('pending', 'sent')"
            ).fetchone()[0]
        if oldest is None:
            return None
        return max(0.0, (time.time() if now is None else now) - oldest)

    def last_txn_id(self) -> str | None:
        """The id of the last row ever recorded (pruning keeps it); seeds `TxnIdFactory`."""
        with self._guard(write=False) as conn:
            row = conn.execute("SELECT txn_id FROM rows ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def rows_for_item(self, barcode: str) -> list[JournalRow]:
        """Every row about this item, oldest first (staff and `expect` checks)."""
        with self._guard(write=False) as conn:
            rows = conn.execute(
                "SELECT seq, payload, status, created_at, sent_at, acked_at, ack, attempts "
                "FROM rows WHERE item=? ORDER BY seq",
                (barcode,),
            ).fetchall()
        return [self._row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per status (technician screen, tests)."""
        with self._guard(write=False) as conn:
            rows = conn.execute("SELECT status, count(*) FROM rows GROUP BY status").fetchall()
        out = dict.fromkeys(STATUSES, 0)
        out.update({s: n for s, n in rows})
        return out

    @staticmethod
    def _row(r: Any) -> JournalRow:
        return JournalRow(
            seq=r[0],
            txn=Txn.model_validate_json(r[1]),
            status=r[2],
            created_at=r[3],
            sent_at=r[4],
            acked_at=r[5],
            ack=Ack.model_validate(json.loads(r[6])) if r[6] else None,
            attempts=r[7],
        )
