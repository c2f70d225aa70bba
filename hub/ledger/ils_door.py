"""The ledger as the ILS leg (hub/ils/) holds it: `IlsLedger`, the ledger functions the
SIP2 gateway, its drainers and its commit hook may call, and no database handle. The ILS
leg so reaches the ledger's tables only through the modules that own them: the call queue
and its links (`ils_queue`), live checkouts (`ils_live`) and checkins (`ils_live_checkin`), the mirror of a member's system
(`ils_mirror`), a reader's and a book's home (`queries`) and the PIN counters (`pins`).

What a caller may rely on: the gateway's and the drainer's writes each commit on their
own; the commit hook's (`claim_live_checkout`, `claim_live_checkin`, `claim_live_call`, `enqueue`,
`record_conflict_now`, `keep_system_due`) join the txn's commit transaction, for which
the ledger hands its follow-up hook an `IlsLedger` over that transaction
(hub/ledger/commits.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.ledger import ils_live, ils_live_checkin, ils_mirror, ils_queue, pins, queries
from hub.ledger.ils_live import Claim, LiveCheckout
from hub.ledger.ils_queue import QueuedCall
from hub.ledger.ledger_sql import Database
from hub.ledger.pins import PinResult
from hub.rules.rules import ReaderRecord, Route
from hub.rules.schemes import Scheme


class IlsLedger:
    """The ILS leg's door to one ledger connection (`Ledger.ils_door()`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ homes, PINs

    def item_home(self, barcode: str) -> str | None:
        return queries.item_home(self._db, barcode)

    def reader_home(self, reader_hash: str) -> str | None:
        return queries.reader_home(self._db, reader_hash)

    def lock_state(self, key: str) -> tuple[int, str | None] | None:
        return pins.lock_state(self._db, key)

    def count_pin_verdict(
        self, key: str, right: bool, policy: Scheme, now: datetime, kiosk_id: str | None
    ) -> PinResult:
        return pins.count_verdict(self._db, key, right, policy, now, kiosk_id)

    # ------------------------------------------------------------------ the mirror

    def mirror_reader(self, reader: ReaderRecord) -> None:
        with self._db.write():
            ils_mirror.mirror_reader(self._db, reader)

    def keep_system_due(self, barcode: str, due: datetime) -> None:
        ils_mirror.keep_system_due(self._db, barcode, due)

    # ------------------------------------------------------------------ calls made live

    def record_pending_checkout(
        self, system: str, item: str, library_id: str, at: datetime,
        *, patron_id: str, card_hash: str, kiosk_id: str | None,
    ) -> int:  # fmt: skip
        return ils_live.record_pending(
            self._db, system, item, library_id, at, patron_id=patron_id, card_hash=card_hash, kiosk_id=kiosk_id
        )

    def note_checkout_uncertain(self, call_id: int, why: str) -> None:
        ils_live.note_uncertain(self._db, call_id, why)

    def mark_checkout_refused(self, call_id: int, now: datetime, words: str | None) -> None:
        ils_live.mark_refused(self._db, call_id, now, words)

    def checkout_lent(
        self, call_id: int, due: datetime | None, item: str, title: str | None, member: str
    ) -> None:
        """The system lent the book: in the mirror at `member`, and live for its txn, in
        one transaction."""
        with self._db.write():
            ils_mirror.mirror_item(self._db, item, title, member, True)
            ils_live.mark_lent(self._db, call_id, due)

    def record_live_renewal(
        self, system: str, item: str, library_id: str, at: datetime,
        *, patron_id: str, card_hash: str, due: datetime | None,
    ) -> None:  # fmt: skip
        """A renewal the system made while the kiosk waited, for its txn to claim."""
        with self._db.write():
            ils_queue.record_live_call(
                self._db, system, "renew", item, library_id, at, patron_id=patron_id, card_hash=card_hash, due=due
            )

    def record_pending_checkin(self, system: str, item: str, library_id: str, at: datetime) -> int:
        return ils_live_checkin.record_pending(self._db, system, item, library_id, at)

    def note_checkin_uncertain(self, call_id: int, why: str) -> None:
        ils_live_checkin.note_uncertain(self._db, call_id, why)

    def drop_unsent_checkin(self, call_id: int) -> None:
        ils_live_checkin.drop_unsent(self._db, call_id)

    def checkin_made(
        self, call_id: int, at: datetime, route: Route | None, item: str, title: str | None, member: str
    ) -> None:
        """The system checked the book in (the book in the mirror at `member`, not
        available), with the route its answer gave (None: only a resend was answered), in
        one transaction."""
        with self._db.write():
            ils_mirror.mirror_item(self._db, item, title, member, False)
            ils_live_checkin.mark_checked_in(self._db, call_id, at, route)

    def checkin_refused(self, call_id: int, words: str | None, item: str, title: str | None, member: str) -> None:
        """The system refused the live 09 (the book in the mirror as it named it), for its
        return txn to judge, in one transaction."""
        with self._db.write():
            ils_mirror.mirror_item(self._db, item, title, member, False)
            ils_live_checkin.mark_refused(self._db, call_id, words)

    def checkin_refusal_agrees(self, call: QueuedCall) -> str | None:
        return ils_queue.checkin_refusal_agrees(self._db, call)

    def item_waiting(self, system: str, item: str) -> bool:
        return ils_queue.item_waiting(self._db, system, item)

    def note_link(self, system: str, up: bool, now: datetime, error: str | None = None) -> None:
        ils_queue.note_link(self._db, system, up, now, error)

    # ------------------------------------------------------------------ a txn's commit

    def claim_live_checkout(
        self, system: str, item: str, card_hash: str | None, kiosk_id: str, txn_id: str
    ) -> Claim | None:
        return ils_live.claim(self._db, system, item, card_hash, kiosk_id, txn_id)

    def claim_live_checkin(self, system: str, item: str, txn_id: str, kiosk_id: str, now: datetime) -> str | None:
        return ils_live_checkin.claim(self._db, system, item, txn_id, kiosk_id, now)

    def claim_live_call(
        self, system: str, op: str, item: str, card_hash: str | None, txn_id: str, kiosk_id: str, now: datetime
    ) -> tuple[int, datetime | None] | None:
        return ils_queue.claim_live_call(self._db, system, op, item, card_hash, txn_id, kiosk_id, now)

    def enqueue(
        self, system: str, op: str, item: str, library_id: str, at: datetime, now: datetime,
        *, txn_id: str, kiosk_id: str, patron_id: str | None, card_hash: str | None,
    ) -> int:  # fmt: skip
        return ils_queue.enqueue(
            self._db, system, op, item, library_id, at, now,
            txn_id=txn_id, kiosk_id=kiosk_id, patron_id=patron_id, card_hash=card_hash,
        )  # fmt: skip

    def record_conflict_now(
        self, system: str, op: str, item: str, library_id: str, at: datetime, now: datetime,
        *, txn_id: str, kiosk_id: str, reason: str, summary: str, card_hash: str | None,
    ) -> None:  # fmt: skip
        ils_queue.record_conflict_now(
            self._db, system, op, item, library_id, at, now, txn_id=txn_id, kiosk_id=kiosk_id,
            reason=reason, summary=summary, card_hash=card_hash,
        )  # fmt: skip

    # ------------------------------------------------------------------ the drainer

    def take_lease(self, system: str, worker: str, now: datetime, lease: timedelta) -> bool:
        return ils_queue.take_lease(self._db, system, worker, now, lease)

    def release_lease(self, system: str, worker: str) -> None:
        ils_queue.release_lease(self._db, system, worker)

    def next_queued(self, system: str, now: datetime) -> QueuedCall | None:
        return ils_queue.next_queued(self._db, system, now)

    def begin_attempt(self, call_id: int) -> None:
        ils_queue.begin_attempt(self._db, call_id)

    def note_error(self, call_id: int, error: str) -> None:
        ils_queue.note_error(self._db, call_id, error)

    def mark_delivered(
        self, call_id: int, now: datetime, due: datetime | None = None, note: str | None = None
    ) -> None:
        ils_queue.mark_delivered(self._db, call_id, now, due=due, note=note)

    def mark_conflict(self, call: QueuedCall, reason: str, summary: str, now: datetime) -> None:
        ils_queue.mark_conflict(self._db, call, reason, summary, now)

    def next_expired_checkout(self, system: str, cutoff: datetime) -> LiveCheckout | None:
        return ils_live.next_expired(self._db, system, cutoff)

    def oldest_open_checkout(self, system: str) -> datetime | None:
        return ils_live.oldest_open(self._db, system)

    def standing_instead(self, call: LiveCheckout) -> tuple[str, str] | None:
        return ils_live.standing_instead(self._db, call)

    def begin_checkin(self, call: LiveCheckout, now: datetime) -> bool:
        return ils_live.begin_checkin(self._db, call, now)

    def settle_checkout(self, call: LiveCheckout, state: str, note: str, now: datetime) -> None:
        ils_live.settle(self._db, call, state, note, now)

    def retry_checkout_later(self, call: LiveCheckout, error: str) -> None:
        ils_live.retry_later(self._db, call, error)
