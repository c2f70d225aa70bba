"""The alliance ledger as its callers hold it: one open database, and the operations of
the modules that each do one job on it.

    hub.ledger.commits        commit a kiosk txn exactly once (loans, returns, renewals)
    hub.ledger.batch_commits  commit many txns in one transaction (group commit), each alone
    hub.ledger.pins           check a PIN under the card scheme's lockout policy
    hub.ledger.queries        read readers, items, loans, holds, the blocklist, audit views
    hub.ledger.staff_exceptions  list staff exceptions with book and reader; resolve one
    hub.ledger.fleet_records  keep what kiosks report about themselves
    hub.ledger.ecard_uses     which phone e-card tokens were spent (each logs in once)
    hub.ledger.kiosk_flags    what the hub no longer takes a kiosk's word for
    hub.ledger.kiosk_presence when the hub heard each kiosk (is "offline" true?)
    hub.ledger.seeding        put the demo catalogue, or single rows, into the ledger
    hub.ledger.ils_queue      what members' own library systems were told, and are owed
    hub.ledger.ils_door       the ILS leg's door: the ledger functions it may call
    hub.ledger.ledger_sql     the SQL layer under them all (SQLite or PostgreSQL)

Each method below only hands `self.db` to its module; read the module for what a caller
may rely on. A `Ledger` is one connection, safe to share between threads; each worker
process opens its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from contract import messages
from hub.ledger import (
    batch_commits,
    commits,
    ecard_uses,
    fleet_records,
    ils_queue,
    kiosk_flags,
    kiosk_presence,
    pins,
    queries,
    seeding,
    staff_exceptions,
)
from hub.ledger.batch_commits import BatchTxn, TxnOutcome
from hub.ledger.commits import TxnFollowUp
from hub.ledger.fleet_records import FleetRow
from hub.ledger.ils_door import IlsLedger
from hub.ledger.kiosk_flags import KioskFlag
from hub.ledger.ledger_sql import Database, LedgerUrlError, open_database
from hub.ledger.order_caps import OrderCaps
from hub.ledger.pins import PinPeppers, PinResult
from hub.ledger.queries import ExceptionRow, HoldRow, LoanRow
from hub.ledger.seeding import ProgressCallback, SeedCounts
from hub.ledger.txn_checks import OfflineBounds
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord, ReaderRecord
from hub.rules.schemes import Scheme

__all__ = ["Ledger", "LedgerUrlError"]


class Ledger:
    """One connection to the ledger database."""

    def __init__(self, db: Database, pin_pepper_file: Path | None = None, url: str | None = None) -> None:
        self.db = db
        self._pin_pepper_file = pin_pepper_file
        self._pin_peppers: PinPeppers | None = None
        self._url = url

    @classmethod
    def open(cls, url: str, pin_pepper_file: Path | None = None) -> Ledger:
        """Open (and create the schema of) `sqlite:///path` or `postgresql://...`.
        Raises LedgerUrlError with a readable message for a bad URL or server, and
        PinPepperError for an unusable `pin_pepper_file` (`[hub] pin_pepper_file`)."""
        db = open_database(url)
        db.create_schema()
        ledger = cls(db, pin_pepper_file, url)
        if pin_pepper_file is not None:
            ledger.pin_peppers()  # refuse a bad pepper file at start, not at the first PIN
        return ledger

    def open_again(self) -> Ledger:
        """Another connection to this ledger, for a second thread that must not wait on
        this one's lock (a worker's commit thread). An in-memory SQLite ledger, which a
        second connection would not see, or one not opened from a URL, is shared instead."""
        if self._url is None or (self.db.dialect == "sqlite" and self._url.endswith("/:memory:")):
            return self
        return Ledger.open(self._url, self._pin_pepper_file)

    def pin_peppers(self) -> PinPeppers:
        """The PIN peppers (hub.ledger.pins.PinPeppers), loaded once."""
        if self._pin_peppers is None:
            self._pin_peppers = pins.load_peppers(self.db, self._pin_pepper_file)
        return self._pin_peppers

    def ils_door(self) -> IlsLedger:
        """The ledger as the ILS leg holds it (hub/ledger/ils_door.py): its functions, and
        no database handle."""
        return IlsLedger(self.db)

    def close(self) -> None:
        self.db.close()

    def cut(self) -> None:
        """Break the connection under the call waiting on it, from any thread, and make no
        new one (`Database.cut`): for a worker's stop that must not wait on a database
        that does not answer."""
        self.db.cut()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hub.ledger.commits

    def commit(
        self,
        txn: messages.Txn,
        registry: Registry,
        now: datetime,
        bounds: OfflineBounds | None = None,
        follow_up: TxnFollowUp | None = None,
        caps: OrderCaps | None = None,
    ) -> list[messages.Ack]:
        return commits.commit(self.db, txn, registry, now, bounds, follow_up, caps)

    def sweep_parked(
        self,
        registry: Registry,
        now: datetime,
        caps: OrderCaps | None = None,
        bounds: OfflineBounds | None = None,
        follow_up: TxnFollowUp | None = None,
    ) -> list[tuple[str, messages.Ack]]:
        return commits.sweep_parked(self.db, registry, now, caps, bounds, follow_up)

    # -- hub.ledger.batch_commits

    def commit_batch(
        self,
        batch: Sequence[BatchTxn],
        registry: Registry,
        bounds: OfflineBounds | None = None,
        follow_up: TxnFollowUp | None = None,
        caps: OrderCaps | None = None,
    ) -> list[TxnOutcome]:
        return batch_commits.commit_batch(self.db, batch, registry, bounds, follow_up, caps)

    # -- hub.ledger.pins

    def check_pin(
        self, scheme: str, number: str, pin: str, now: datetime, policy: Scheme, kiosk_id: str | None = None
    ) -> PinResult:
        return pins.check_pin(self.db, scheme, number, pin, now, policy, self.pin_peppers(), kiosk_id)

    def cards_locked_by(self, kiosk_id: str, now: datetime) -> int:
        return pins.cards_locked_by(self.db, kiosk_id, now)

    def unlock_card(self, scheme: str, number: str) -> bool | None:
        return pins.unlock_card(self.db, scheme, number)

    def unlock_cards_locked_by(self, kiosk_id: str, now: datetime) -> int:
        return pins.unlock_cards_locked_by(self.db, kiosk_id, now)

    # -- hub.ledger.queries

    def is_empty(self) -> bool:
        return queries.is_empty(self.db)

    def reader(self, scheme: str, number: str) -> ReaderRecord | None:
        return queries.reader(self.db, scheme, number)

    def item(self, barcode: str) -> ItemRecord | None:
        return queries.item(self.db, barcode)

    def items_by_state(self, state: str, limit: int = 5) -> list[ItemRecord]:
        return queries.items_by_state(self.db, state, limit)

    def active_loans(self, reader_hash: str) -> list[LoanRow]:
        return queries.active_loans(self.db, reader_hash)

    def active_loan_for_item(self, barcode: str) -> LoanRow | None:
        return queries.active_loan_for_item(self.db, barcode)

    def waiting_hold(self, barcode: str) -> tuple[str, str] | None:
        return queries.waiting_hold(self.db, barcode)

    def reader_holds(self, reader_hash: str) -> list[HoldRow]:
        return queries.reader_holds(self.db, reader_hash)

    def blocklist_hashes(self, today: date, salt: str) -> list[str]:
        return queries.blocklist_hashes(self.db, today, salt)

    def ledger_counts(self, txn_ids: Sequence[str]) -> dict[str, int]:
        return queries.ledger_counts(self.db, txn_ids)

    def count(self, table: str) -> int:
        return queries.count(self.db, table)

    def exceptions(self) -> list[ExceptionRow]:
        return queries.exceptions(self.db)

    def known_cards(self) -> list[tuple[str, str]]:
        return queries.known_cards(self.db)

    def loan_history(self, barcode: str) -> list[tuple[str, str, str | None]]:
        return queries.loan_history(self.db, barcode)

    # -- hub.ledger.staff_exceptions

    def staff_exceptions(
        self, kiosk_id: str | None = None, since: datetime | None = None, only_open: bool = False
    ) -> list[staff_exceptions.StaffException]:
        return staff_exceptions.staff_exceptions(self.db, kiosk_id, since, only_open)

    def resolve_exception(
        self, exception_id: int, by: str, note: str, now: datetime
    ) -> staff_exceptions.StaffException:
        return staff_exceptions.resolve(self.db, exception_id, by, note, now)

    # -- hub.ledger.ils_queue

    def ils_links(self, systems: tuple[str, ...] = ()) -> list[ils_queue.LinkRow]:
        return ils_queue.links(self.db, systems)

    def ils_outcomes(self) -> list[tuple[int, str, str, str, str | None, str | None]]:
        return ils_queue.outcomes(self.db)

    # -- hub.ledger.fleet_records

    def record_state(self, kiosk_id: str, state: messages.KioskState, now: datetime) -> None:
        fleet_records.record_state(self.db, kiosk_id, state, now)

    def record_telemetry(
        self, kiosk_id: str, telemetry: messages.Telemetry, now: datetime, max_clock_offset_s: float | None = None
    ) -> None:
        with self.db.write():
            fleet_records.record_telemetry(self.db, kiosk_id, telemetry, now, max_clock_offset_s)

    # -- hub.ledger.kiosk_presence

    def record_heard(self, writer: kiosk_presence.PresenceWriter, kiosk_id: str, now: datetime) -> None:
        writer.heard(self.db, kiosk_id, now)

    def record_gone(self, writer: kiosk_presence.PresenceWriter, kiosk_id: str, now: datetime) -> None:
        writer.gone(self.db, kiosk_id, now)

    def fleet(self) -> list[FleetRow]:
        return fleet_records.fleet_rows(self.db)

    # -- hub.ledger.ecard_uses

    def spend_ecard_token(self, token_id: str, kiosk_id: str, now: datetime) -> bool:
        with self.db.write():
            return ecard_uses.spend(self.db, token_id, kiosk_id, now)

    # -- hub.ledger.kiosk_flags

    def raise_kiosk_flag(self, kiosk_id: str, flag: str, detail: str, now: datetime) -> None:
        with self.db.write():
            kiosk_flags.raise_flag(self.db, kiosk_id, flag, detail, now)

    def clear_kiosk_flag(self, kiosk_id: str, flag: str | None = None) -> int:
        with self.db.write():
            return kiosk_flags.clear_flag(self.db, kiosk_id, flag)

    def kiosk_flags(self, kiosk_id: str | None = None) -> list[KioskFlag]:
        return kiosk_flags.flags(self.db, kiosk_id)

    # -- hub.ledger.seeding

    def seed_demo(
        self, registry: Registry, progress: ProgressCallback | None = None, per_member: int = 400
    ) -> SeedCounts:
        return seeding.seed_demo(self.db, registry, self.pin_peppers(), progress, per_member)

    def add_reader(self, reader: ReaderRecord, pin: str | None = None) -> str:
        return seeding.add_reader(self.db, reader, self.pin_peppers(), pin)
