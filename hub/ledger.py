"""The alliance ledger: readers, items, loans, holds, transfers, transactions, fleet.

Exactly-once lives here. Kiosks publish at least once (QoS 1, retried from their
journals); `commit_txn` inserts the txn row under a unique `txn_id` and applies its
effects in the same database transaction, so a repeat — even two workers racing on
the same txn — finds the first row and answers with the original ack ("duplicate").
Offline transactions already happened in the reader's hands: a conflict the hub finds
is committed as an exception row for staff, never dropped (the SIP2 offline pattern).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub import protocol
from hub.ledger_sql import Database, LedgerUrlError, open_database

__all__ = [
    "FleetRow",
    "Ledger",
    "LedgerUrlError",
    "LoanRow",
    "PinResult",
    "SeedCounts",
]

PIN_ATTEMPTS = 5
PIN_LOCK_BASE = timedelta(minutes=5)
PIN_LOCK_MAX = timedelta(days=1)
# The lockout, not KDF cost, protects a 4-8 digit PIN; 5,000 rounds keep pin_check ~1 ms.
PIN_ITERATIONS = 5_000

ProgressCallback = Callable[[str, int, int], None]


def ts(moment: datetime) -> str:
    """One text form for every timestamp in both dialects: UTC ISO 8601 with offset,
    microseconds always present, so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _as_datetime(value: datetime | date | None) -> datetime | None:
    """Rules may give a due date as a date; the wire and the ledger carry datetimes."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=UTC)


def hash_pin(pin: str, iterations: int = PIN_ITERATIONS, salt: bytes | None = None) -> str:
    """Salted PBKDF2-SHA256, self-describing so the cost can be raised later."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        algo, iterations, salt_hex, digest_hex = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def card_hash(scheme: str, number: str) -> str:
    """Same as rules.card_hash (sha256 of "scheme:number"); kept here so the ledger's
    primary key never depends on import order."""
    from hub import rules

    return rules.card_hash(scheme, number)


@dataclass(frozen=True)
class LoanRow:
    item: str
    card_hash: str
    title: str
    opened_at: datetime
    due: datetime
    renewals: int


@dataclass(frozen=True)
class PinResult:
    ok: bool
    attempts_left: int
    locked_until: datetime | None = None
    known: bool = True


@dataclass(frozen=True)
class FleetRow:
    kiosk_id: str
    state: str
    library_id: str | None
    firmware: str | None
    last_seen: datetime | None
    journal_pending: int | None
    faults: list[str]
    telemetry: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "kiosk_id": self.kiosk_id,
            "state": self.state,
            "library_id": self.library_id,
            "firmware": self.firmware,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "journal_pending": self.journal_pending,
            "faults": self.faults,
        }


@dataclass(frozen=True)
class SeedCounts:
    items: int
    readers: int
    holds: int


@dataclass(frozen=True)
class ExceptionRow:
    txn_id: str
    kiosk_id: str
    reason: str
    summary: str
    at: datetime


class Ledger:
    """One connection to the ledger database. Thread-safe (a lock per connection);
    each worker process opens its own."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url

    @classmethod
    def open(cls, url: str) -> Ledger:
        """Open (and create the schema of) `sqlite:///path` or `postgresql://...`.
        Raises LedgerUrlError with a readable message for a bad URL or server."""
        db = open_database(url)
        db.create_schema()
        return cls(db, url)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ seeding

    def is_empty(self) -> bool:
        return self.db.scalar("SELECT COUNT(*) FROM items") == 0

    def seed_demo(
        self,
        registry: Any,
        progress: ProgressCallback | None = None,
        per_member: int = 400,
        seed: int = 2012,
        pin_iterations: int = PIN_ITERATIONS,
    ) -> SeedCounts:
        """Load the generated catalogue, demo readers and holds into an empty ledger in one
        transaction (a half-seeded ledger never exists). No-op when items exist."""
        from hub import catalogue

        report = progress or (lambda stage, done, total: None)
        items = list(catalogue.generate_items(registry, per_member=per_member, seed=seed))
        readers = catalogue.generate_readers(registry, seed=seed)
        holds = _demo_holds(catalogue, registry)
        batch = 5_000
        with self.db.write():
            if self.db.scalar("SELECT COUNT(*) FROM items"):
                return SeedCounts(0, 0, 0)
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                self.db.executemany(
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
                        hash_pin(r.pin, pin_iterations) if r.pin else None,
                    )
                )
                if n % 200 == 0:
                    report("readers", n, len(readers))
            self.db.executemany(
                "INSERT INTO readers (card_hash, scheme, number, name, state, block_reason, expires,"
                " home_library, pin_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (card_hash) DO NOTHING",
                rows,
            )
            report("readers", len(readers), len(readers))
            self.db.executemany(
                "INSERT INTO holds (item, card_hash, pickup_library, state, placed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                holds,
            )
            report("holds", len(holds), len(holds))
        return SeedCounts(len(items), len(readers), len(holds))

    def add_reader(self, reader: Any, pin: str | None = None) -> str:
        """Insert or replace one reader (tests, staff tools); returns its card hash."""
        key = card_hash(reader.scheme, reader.number)
        self.db.execute(
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
                hash_pin(pin) if pin else None,
            ),
        )
        return key

    def add_item(self, item: Any) -> None:
        """Insert or replace one item (tests, staff tools)."""
        self.db.execute(
            "INSERT INTO items (barcode, title, home_library, state, hold_for, loanable)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (barcode) DO UPDATE SET title = excluded.title,"
            " home_library = excluded.home_library, state = excluded.state,"
            " hold_for = excluded.hold_for, loanable = excluded.loanable",
            (item.barcode, item.title, item.home_library, item.state, item.hold_for, int(bool(item.loanable))),
        )

    def place_hold(self, item: str, reader_hash: str, pickup_library: str, at: datetime) -> None:
        self.db.execute(
            "INSERT INTO holds (item, card_hash, pickup_library, state, placed_at)"
            " VALUES (?, ?, ?, 'waiting', ?)",
            (item, reader_hash, pickup_library, ts(at)),
        )

    # ------------------------------------------------------------------ lookups

    def reader(self, scheme: str, number: str) -> Any | None:
        """The reader as a rules.ReaderRecord, or None for an unknown card."""
        return self.reader_by_hash(card_hash(scheme, number))

    def reader_by_hash(self, key: str) -> Any | None:
        from hub import rules

        row = self.db.query_one(
            "SELECT scheme, number, name, state, block_reason, expires, home_library"
            " FROM readers WHERE card_hash = ?",
            (key,),
        )
        if row is None:
            return None
        return rules.ReaderRecord(
            scheme=row[0],
            number=row[1],
            name=row[2],
            state=row[3],
            block_reason=row[4],
            expires=date.fromisoformat(row[5]) if row[5] else None,
            home_library=row[6],
        )

    def item(self, barcode: str) -> Any | None:
        """The item as a rules.ItemRecord, or None when the alliance does not know it."""
        return self._item(barcode, lock=False)

    def _item(self, barcode: str, lock: bool) -> Any | None:
        from hub import rules

        sql = "SELECT barcode, title, home_library, state, hold_for, loanable FROM items WHERE barcode = ?"
        if lock and self.db.dialect == "postgresql":
            sql += " FOR UPDATE"
        row = self.db.query_one(sql, (barcode,))
        if row is None:
            return None
        return rules.ItemRecord(
            barcode=row[0],
            title=row[1],
            home_library=row[2],
            state=row[3],
            hold_for=row[4],
            loanable=bool(row[5]),
        )

    def active_loans(self, reader_hash: str) -> list[LoanRow]:
        rows = self.db.query(
            "SELECT l.item, l.card_hash, COALESCE(i.title, ''), l.opened_at, l.due, l.renewals"
            " FROM loans l LEFT JOIN items i ON i.barcode = l.item"
            " WHERE l.card_hash = ? AND l.closed_at IS NULL ORDER BY l.opened_at",
            (reader_hash,),
        )
        return [_loan(r) for r in rows]

    def active_loan_for_item(self, barcode: str) -> LoanRow | None:
        row = self.db.query_one(
            "SELECT l.item, l.card_hash, COALESCE(i.title, ''), l.opened_at, l.due, l.renewals"
            " FROM loans l LEFT JOIN items i ON i.barcode = l.item"
            " WHERE l.item = ? AND l.closed_at IS NULL",
            (barcode,),
        )
        return None if row is None else _loan(row)

    def waiting_hold(self, barcode: str) -> tuple[str, str] | None:
        """(reader hash, pickup library) of the oldest open hold on the item."""
        row = self.db.query_one(
            "SELECT card_hash, pickup_library FROM holds WHERE item = ? AND state IN ('waiting', 'ready')"
            " ORDER BY id LIMIT 1",
            (barcode,),
        )
        return None if row is None else (row[0], row[1])

    def blocklist_hashes(self, today: date) -> list[str]:
        """Hashes of cards a kiosk must refuse offline: blocked, or not valid, or expired."""
        rows = self.db.query(
            "SELECT card_hash FROM readers WHERE state <> 'valid' OR (expires IS NOT NULL AND expires < ?)"
            " ORDER BY card_hash",
            (today.isoformat(),),
        )
        return [r[0] for r in rows]

    def ledger_counts(self, txn_ids: Sequence[str]) -> dict[str, int]:
        """txn_id -> committed rows holding it (0 or 1): what `expect committed` checks."""
        counts = dict.fromkeys(txn_ids, 0)
        if not txn_ids:
            return counts
        marks = ", ".join("?" for _ in txn_ids)
        for txn_id, n in self.db.query(
            f"SELECT txn_id, COUNT(*) FROM txns WHERE result = 'committed' AND txn_id IN ({marks})"
            " GROUP BY txn_id",
            tuple(txn_ids),
        ):
            counts[txn_id] = int(n)
        return counts

    def txn_rows(self, txn_id: str | None = None) -> int:
        """Rows in txns (for one id, or all): tests and staff tools."""
        if txn_id is None:
            return int(self.db.scalar("SELECT COUNT(*) FROM txns"))
        return int(self.db.scalar("SELECT COUNT(*) FROM txns WHERE txn_id = ?", (txn_id,)))

    def count(self, table: str) -> int:
        if table not in {"readers", "items", "loans", "holds", "transfers", "txns", "exceptions", "fleet"}:
            raise ValueError(f"no such ledger table: {table}")
        return int(self.db.scalar(f"SELECT COUNT(*) FROM {table}"))

    def exceptions(self) -> list[ExceptionRow]:
        return [
            ExceptionRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]))
            for r in self.db.query(
                "SELECT txn_id, kiosk_id, reason, summary, at FROM exceptions ORDER BY id"
            )
        ]

    def transfers(self, barcode: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self.db.query(
                "SELECT from_library, to_library FROM transfers WHERE item = ? ORDER BY id", (barcode,)
            )
        ]

    def items_by_state(self, state: str, limit: int = 5) -> list[Any]:
        rows = self.db.query(
            "SELECT barcode FROM items WHERE state = ? ORDER BY barcode LIMIT ?", (state, limit)
        )
        return [self.item(r[0]) for r in rows]

    def demo_readers(self) -> list[tuple[str, str, str, str]]:
        """(scheme, number, state, name) of every reader (PINs are only stored hashed)."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.db.query("SELECT scheme, number, state, name FROM readers ORDER BY scheme, number")
        ]

    # ------------------------------------------------------------------ PINs

    def check_pin(
        self, scheme: str, number: str, pin: str, now: datetime, policy: Any | None = None
    ) -> PinResult:
        """Verify a PIN. `policy` is the card's schemes.Scheme (pin_max_attempts,
        lockout_minutes); without it: five wrong in a row lock the card, each lock twice as
        long as the last (5 min, 10 min, ... up to a day). A right PIN resets the count."""
        attempts = int(getattr(policy, "pin_max_attempts", PIN_ATTEMPTS) or PIN_ATTEMPTS)
        key = card_hash(scheme, number)
        with self.db.write():
            row = self.db.query_one(
                "SELECT pin_hash, pin_failures, locked_until FROM readers WHERE card_hash = ?", (key,)
            )
            if row is None:
                return PinResult(ok=False, attempts_left=0, known=False)
            stored, failures, locked_text = row
            locked_until = parse_ts(locked_text)
            if locked_until is not None and locked_until > now:
                return PinResult(ok=False, attempts_left=0, locked_until=locked_until)
            if stored is not None and verify_pin(pin, stored):
                self.db.execute(
                    "UPDATE readers SET pin_failures = 0, locked_until = NULL WHERE card_hash = ?", (key,)
                )
                return PinResult(ok=True, attempts_left=attempts)
            failures += 1
            left = attempts - failures % attempts
            new_lock: datetime | None = None
            if failures % attempts == 0:
                new_lock = now + _lockout(policy, failures // attempts)
                left = 0
            self.db.execute(
                "UPDATE readers SET pin_failures = ?, locked_until = ? WHERE card_hash = ?",
                (failures, ts(new_lock) if new_lock else None, key),
            )
            return PinResult(ok=False, attempts_left=left, locked_until=new_lock)

    # ------------------------------------------------------------------ fleet

    def record_state(self, kiosk_id: str, state: protocol.KioskState, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO fleet (kiosk_id, state, library_id, firmware, last_seen, faults)"
            " VALUES (?, ?, ?, ?, ?, '[]') ON CONFLICT (kiosk_id) DO UPDATE SET"
            " state = excluded.state, library_id = COALESCE(excluded.library_id, fleet.library_id),"
            " firmware = excluded.firmware, last_seen = excluded.last_seen",
            (kiosk_id, state.state, state.library_id, state.firmware, ts(state.at or now)),
        )

    def record_telemetry(self, kiosk_id: str, telemetry: protocol.Telemetry, now: datetime) -> None:
        faults = sorted(set(telemetry.faults) | {f"{d}:{c}" for d, c in telemetry.devices.items() if c != "ok"})
        self.db.execute(
            "INSERT INTO fleet (kiosk_id, state, last_seen, telemetry_json, journal_pending, faults)"
            " VALUES (?, 'online', ?, ?, ?, ?) ON CONFLICT (kiosk_id) DO UPDATE SET"
            " last_seen = excluded.last_seen, telemetry_json = excluded.telemetry_json,"
            " journal_pending = excluded.journal_pending, faults = excluded.faults",
            (kiosk_id, ts(now), telemetry.model_dump_json(), telemetry.journal_pending, json.dumps(faults)),
        )

    def fleet(self) -> list[FleetRow]:
        rows = self.db.query(
            "SELECT kiosk_id, state, library_id, firmware, last_seen, journal_pending, faults, telemetry_json"
            " FROM fleet ORDER BY kiosk_id"
        )
        return [
            FleetRow(
                kiosk_id=r[0],
                state=r[1],
                library_id=r[2],
                firmware=r[3],
                last_seen=parse_ts(r[4]),
                journal_pending=r[5],
                faults=json.loads(r[6]) if r[6] else [],
                telemetry=json.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ transactions

    def commit_txn(self, txn: protocol.Txn, registry: Any, now: datetime) -> protocol.Ack:
        """Commit one kiosk transaction exactly once and return its ack (see module doc).
        Retries a few times on lock timeouts and deadlocks; other errors propagate (the
        kiosk will send the txn again)."""
        delay = 0.01
        for attempt in range(6):
            try:
                return self._commit_once(txn, registry, now)
            except self.db.RetryableError:
                if attempt == 5:
                    raise
            except self.db.IntegrityError:
                # A unique index other than txn_id (one active loan per item) lost a race.
                if attempt == 5:
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _commit_once(self, txn: protocol.Txn, registry: Any, now: datetime) -> protocol.Ack:
        reader_key = card_hash(txn.card.scheme, txn.card.number) if txn.card else None
        with self.db.write():
            inserted = self.db.execute(
                "INSERT INTO txns (txn_id, kiosk_id, library_id, kind, item, card_hash, at, mode,"
                " result, ack_json, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', '{}', ?)"
                " ON CONFLICT (txn_id) DO NOTHING",
                (
                    txn.txn_id,
                    txn.kiosk_id,
                    txn.library_id,
                    txn.kind,
                    txn.item,
                    reader_key,
                    ts(txn.at),
                    txn.mode,
                    ts(now),
                ),
            )
            if inserted == 0:
                row = self.db.query_one("SELECT result, ack_json FROM txns WHERE txn_id = ?", (txn.txn_id,))
                return _repeat_ack(row)
            ack = _Commit(self, txn, registry, now, reader_key).apply()
            self.db.execute(
                "UPDATE txns SET result = ?, ack_json = ? WHERE txn_id = ?",
                (ack.result, protocol.encode(ack).decode(), txn.txn_id),
            )
            return ack


class _Commit:
    """The effects of one txn, inside the ledger transaction `Ledger._commit_once` opened."""

    def __init__(self, ledger: Ledger, txn: protocol.Txn, registry: Any, now: datetime, reader_key: str | None):
        self.ledger = ledger
        self.db = ledger.db
        self.txn = txn
        self.registry = registry
        self.now = now
        self.reader_key = reader_key
        # Offline txns are judged at the moment they happened (SIP2: original txn date).
        self.when = now if txn.mode == "online" else _aware(txn.at)

    def apply(self) -> protocol.Ack:
        item = self.ledger._item(self.txn.item, lock=True)
        if self.txn.kind == "loan":
            return self._loan(item)
        if self.txn.kind == "return":
            return self._return(item)
        return self._renew(item)

    # -- outcomes --
    def _ack(self, due: datetime | None = None, exception: str | None = None) -> protocol.Ack:
        return protocol.Ack(txn_id=self.txn.txn_id, result="committed", due=due, exception=exception)

    def _refuse(self, reason: str, due: datetime | None = None) -> protocol.Ack:
        """Online: the kiosk must not have done it. Offline: it already happened, so it is
        committed and kept for staff as an exception."""
        if self.txn.mode == "online":
            return protocol.Ack(txn_id=self.txn.txn_id, result="rejected", reason=reason)
        self._exception(reason)
        return self._ack(due=due, exception=reason)

    def _exception(self, reason: str) -> None:
        t = self.txn
        scheme = t.card.scheme if t.card else "-"
        summary = f"{t.mode} {t.kind} of item {t.item} at {t.library_id} by kiosk {t.kiosk_id}, card scheme {scheme}"
        self.db.execute(
            "INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES (?, ?, ?, ?, ?)",
            (t.txn_id, t.kiosk_id, reason, summary, ts(self.now)),
        )

    # -- loans --
    def _loan(self, item: Any) -> protocol.Ack:
        from hub import rules

        if self.reader_key is None:
            return self._refuse("card_required")
        current = self.ledger.active_loan_for_item(self.txn.item)
        if current is not None and current.card_hash == self.reader_key:
            # A double scan (or a journal replay under a new id) never makes two loans.
            return self._ack(due=current.due)
        reader = self.ledger.reader_by_hash(self.reader_key)
        loans = self.ledger.active_loans(self.reader_key)
        decision = rules.checkout_decision(
            self.registry, reader, item, self.txn.library_id, len(loans), self.when, reader_hash=self.reader_key
        )
        if decision.allowed:
            due = _as_datetime(decision.due)
            if self.txn.mode == "offline" and self.txn.due is not None:
                due = self.txn.due  # the date the reader was shown offline is the promise
            assert due is not None
            self._open_loan(item, due)
            return self._ack(due=due)
        reason = decision.reason_code or "refused"
        if self.txn.mode == "offline" and item is not None and current is None:
            # The reader walked out with the book: the ledger follows it, staff follow up.
            due = self.txn.due or _as_datetime(decision.due) or (self.when + timedelta(days=30))
            self._open_loan(item, due)
            return self._refuse(reason, due=due)
        return self._refuse(reason)

    def _open_loan(self, item: Any, due: datetime) -> None:
        self.db.execute(
            "INSERT INTO loans (item, card_hash, opened_at, due, renewals, txn_id) VALUES (?, ?, ?, ?, 0, ?)",
            (item.barcode, self.reader_key, ts(self.txn.at), ts(due), self.txn.txn_id),
        )
        hold_for = None if item.hold_for == self.reader_key else item.hold_for
        self.db.execute(
            "UPDATE items SET state = 'on_loan', hold_for = ? WHERE barcode = ?", (hold_for, item.barcode)
        )
        self.db.execute(
            "UPDATE holds SET state = 'fulfilled' WHERE item = ? AND card_hash = ? AND state IN ('waiting', 'ready')",
            (item.barcode, self.reader_key),
        )

    # -- returns --
    def _return(self, item: Any) -> protocol.Ack:
        from hub import rules

        if item is None:
            # Returns are always taken; an unknown book is for staff to identify.
            self._exception("item_unknown")
            return self._ack(exception="item_unknown")
        self.db.execute(
            "UPDATE loans SET closed_at = ? WHERE item = ? AND closed_at IS NULL",
            (ts(self.txn.at), item.barcode),
        )
        hold = self.ledger.waiting_hold(item.barcode)
        route = rules.route_return(self.registry, item, self.txn.library_id, hold[1] if hold else None)
        if route.route == "hold" and hold is not None:
            self.db.execute(
                "UPDATE items SET state = 'on_hold', hold_for = ? WHERE barcode = ?", (hold[0], item.barcode)
            )
            self.db.execute(
                "UPDATE holds SET state = 'ready' WHERE item = ? AND card_hash = ? AND state = 'waiting'",
                (item.barcode, hold[0]),
            )
        elif route.route == "transfer":
            self.db.execute(
                "UPDATE items SET state = 'in_transit', hold_for = NULL WHERE barcode = ?", (item.barcode,)
            )
            self.db.execute(
                "INSERT INTO transfers (item, from_library, to_library, at, txn_id) VALUES (?, ?, ?, ?, ?)",
                (item.barcode, self.txn.library_id, route.library_id, ts(self.txn.at), self.txn.txn_id),
            )
        else:
            self.db.execute(
                "UPDATE items SET state = 'on_shelf', hold_for = NULL WHERE barcode = ?", (item.barcode,)
            )
        return self._ack()

    # -- renewals --
    def _renew(self, item: Any) -> protocol.Ack:
        from hub import rules

        if self.reader_key is None:
            return self._refuse("card_required")
        current = self.ledger.active_loan_for_item(self.txn.item)
        if item is None or current is None or current.card_hash != self.reader_key:
            return self._refuse("not_on_loan")
        reader = self.ledger.reader_by_hash(self.reader_key)
        hold = self.ledger.waiting_hold(item.barcode)
        hold_waiting = hold is not None and hold[0] != self.reader_key
        decision = rules.renew_decision(
            self.registry, reader, item, current.due, current.renewals, self.when, hold_waiting
        )
        due = _as_datetime(decision.due)
        if self.txn.mode == "offline" and self.txn.due is not None:
            due = self.txn.due
        if decision.allowed or (self.txn.mode == "offline" and due is not None):
            assert due is not None
            self.db.execute(
                "UPDATE loans SET due = ?, renewals = renewals + 1 WHERE item = ? AND closed_at IS NULL",
                (ts(due), item.barcode),
            )
            if decision.allowed:
                return self._ack(due=due)
            return self._refuse(decision.reason_code or "refused", due=due)
        return self._refuse(decision.reason_code or "refused")


def _lockout(policy: Any | None, lockouts: int) -> timedelta:
    if policy is not None and hasattr(policy, "lockout_minutes"):
        return timedelta(minutes=policy.lockout_minutes(lockouts))
    return min(PIN_LOCK_BASE * (2 ** (lockouts - 1)), PIN_LOCK_MAX)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _repeat_ack(row: Any) -> protocol.Ack:
    """The stored ack again: a committed txn repeats as "duplicate", a rejected one as
    the same rejection (so the kiosk sees one consistent answer)."""
    result, ack_json = row
    ack = protocol.Ack.model_validate_json(ack_json)
    if result == "committed":
        return ack.model_copy(update={"result": "duplicate"})
    return ack


def _loan(row: Sequence[Any]) -> LoanRow:
    return LoanRow(
        item=row[0],
        card_hash=row[1],
        title=row[2],
        opened_at=datetime.fromisoformat(row[3]),
        due=datetime.fromisoformat(row[4]),
        renewals=int(row[5]),
    )


def _date_text(value: date | datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _demo_holds(catalogue: Any, registry: Any) -> list[tuple[str, str, str, str, str]]:
    """Rows for the holds table: an item already on the hold shelf is "ready", one still
    on loan is "waiting" (its return routes to the pickup library)."""
    placed = ts(datetime(2025, 1, 1, tzinfo=UTC))
    return [
        (h.barcode, h.reader_hash, h.pickup_library, "ready" if h.item_state == "on_hold" else "waiting", placed)
        for h in catalogue.demo_holds(registry)
    ]
