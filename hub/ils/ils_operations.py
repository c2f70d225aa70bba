"""The alliance's operations on a member's own library system, in SIP2: what
`RequestAnswers` (hub/worker/answers.py) asks while a kiosk waits, and what a committed txn
still owes the system (the commit hook `follow_txn`, hub/ledger/commits.py).

    reader lookup, PIN   63 at the card's issuing system (AD = the PIN; CQ decides)
    checkout, renew      11 / 29 at the book's home system, to the reader's own id when
                         the card is of that system, else to the guest patron for the
                         card's scheme; the hub's ledger records the real reader
    return route         09 at the book's home system, current location = the kiosk's
                         library; the route from CT (destination) and CV (alert)

What a caller may rely on:

- Every call that reaches a system is in the ledger's `ils_queue` (hub/ledger/ils_queue.py):
  a live one waits for its txn, which claims it (a live checkout is recorded before its
  11 is sent, and checked back in when no txn claims it in time: hub/ledger/ils_live.py;
  a live checkin before its 09, and resent as a retry when its answer was lost, or its
  refusal judged, by its return txn: hub/ledger/ils_live_checkin.py); a
  txn whose call was not made live (the system was down, the kiosk was offline) queues
  one, in the same database transaction as its commit, and the drainer
  (hub/ils/ils_drainer.py) sends it later.
- A live call never overtakes a queued one about the same book: while a book has a call
  waiting, its return is routed by the hub's own rules and its loan is refused.
- Online loans and renewals of a book whose system does not answer are refused
  (`ils_unavailable`): the hub cannot know what that system knows about the book (a hold,
  another loan), and the reader is still at the kiosk. Offline loans (the kiosk could not
  reach the hub) follow the kiosk's offline policy and are queued as checkouts.
- Refusals are `IlsRefusal`: a reason code of `HUB_REASONS` (hub/worker/refusals.py), and
  the system's own words (AF) when it gave any. A system's answers never raise anything
  else but the hub's own faults.
- The ledger mirrors what it needs of the system: the reader of a card the system keeps
  (state and name, at each lookup; PIN lockout counted by the hub as for its own cards)
  and each book it lends or takes back (title, home), so the ledger's rules and loans
  work unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal, Protocol

from contract import messages
from contract.privacy import card_hash
from hub.ils.ils_routing import IlsRouting, NoGuestPatron, Patron
from hub.ledger.ils_door import IlsLedger
from hub.ledger.pins import PinResult, still_locked
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord, ReaderRecord, Route
from hub.rules.schemes import Scheme
from hub.sip2.client import Sip2AnswerMismatch, Sip2Error, Sip2ProtocolError, Sip2Unavailable

log = logging.getLogger(__name__)

# The system decides whether its own cards are still good: the ledger's copy never expires.
MIRRORED_EXPIRY = date(9999, 12, 31)
_TXN_OPS = {"loan": "checkout", "return": "checkin", "renew": "renew"}
LendOp = Literal["checkout", "renew"]


class ClientPool(Protocol):
    """What the gateway needs of `hub.sip2.Sip2Pool`: a logged-in client for a block."""

    def client(self) -> AbstractContextManager[Any]: ...


class IlsRefusal(Exception):
    """The kiosk must refuse: `code` is a reason code (`HUB_REASONS`, hub/worker/refusals.py),
    `note` the system's own words (its screen message), when it gave any; `title` the
    book's title as the system named it in its refusal (a 12 or 30 carries AJ even when
    it says no), so the reader is told which book was refused."""

    def __init__(
        self, code: str, note: str | None = None, system: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(code if not note else f"{code}: {note}")
        self.code = code
        self.note = note
        self.system = system
        self.title = title


@dataclass(frozen=True)
class IlsLoan:
    """A checkout or renewal the system made: what the reader is shown."""

    system: str
    patron: Patron
    title: str | None
    due: datetime | None


@dataclass(frozen=True)
class IlsRoute:
    """Where the system sends a book that was checked in at the kiosk's library."""

    route: str  # shelve, transfer, hold
    library_id: str
    title: str | None


class IlsGateway:
    """The hub's door to the members' systems: one pool per system, the routing, and the
    ledger as the ILS leg holds it (`IlsLedger`: the mirror, `ils_queue`, live checkouts;
    never its database). `wake(system)` is called when a call is queued, so a drainer can
    send it at once."""

    def __init__(
        self,
        routing: IlsRouting,
        pools: Mapping[str, ClientPool],
        ledger: IlsLedger,
        clock: Callable[[], datetime],
        wake: Callable[[str], None] | None = None,
    ) -> None:
        missing = sorted(set(routing.systems) - set(pools))
        if missing:
            raise ValueError(f"no SIP2 pool for system {missing[0]!r}")
        self.routing = routing
        self.pools = pools
        self.ledger = ledger
        self.clock = clock
        self.wake = wake or (lambda system: None)

    @property
    def registry(self) -> Registry:
        return self.routing.registry

    def wake_all(self) -> None:
        """After a commit: every drainer looks again. `follow_txn` wakes one inside the
        txn's database transaction, and a drainer woken then may look before the commit
        and see nothing; under group commit that window is a whole batch long."""
        for system in self.routing.systems:
            self.wake(system)

    # ------------------------------------------------------------------ routing

    def card_system(self, scheme: str, number: str) -> str | None:
        """The system that keeps this card's reader, or None (the hub's own ledger)."""
        return self.routing.card_system(scheme, number, self._reader_home(scheme, number))

    def item_system(self, barcode: str) -> str | None:
        """The system that keeps this book, or None (the hub's own catalogue)."""
        return self.routing.item_system(barcode, self.ledger.item_home(barcode))

    def item_member(self, barcode: str) -> str | None:
        return self.routing.item_member(barcode, self.ledger.item_home(barcode))

    # ------------------------------------------------------------------ readers

    def reader(self, scheme: str, number: str, system: str) -> ReaderRecord | None:
        """The reader as `system` knows them (63), mirrored into the ledger; None for a
        patron the system does not know. IlsRefusal when the system does not answer."""
        with self._client(system) as client:
            info = client.patron_information(number)
        if not info.valid_patron:
            return None
        member = self.routing.card_member(scheme, number, self._reader_home(scheme, number)) or ""
        record = ReaderRecord(
            scheme=scheme,
            number=number,
            name=(info.name or "").strip() or "读者",
            state="blocked" if info.blocked else "valid",
            block_reason=None,
            expires=MIRRORED_EXPIRY,
            home_library=member,
        )
        self._mirror_reader(record)
        return record

    def check_pin(
        self, scheme: str, number: str, pin: str, policy: Scheme, system: str, kiosk_id: str | None = None
    ) -> PinResult:
        """The system decides the PIN (63 with AD, its CQ); the hub counts wrong ones and
        locks the card as for its own cards (hub/ledger/pins.py, naming `kiosk_id` as a lock's
        cause), so a kiosk cannot guess faster at a member's system than at the hub.
        IlsRefusal when the system does not answer."""
        key = card_hash(scheme, number)
        now = self.clock()
        state = self.ledger.lock_state(key)
        if state is None:
            self.reader(scheme, number, system)
            state = self.ledger.lock_state(key)
            if state is None:
                return PinResult(ok=False, attempts_left=0, known=False)
        lock = still_locked(state[1], now)
        if lock is not None:
            return lock
        with self._client(system) as client:
            info = client.patron_information(number, pin=pin)
        if not info.valid_patron:
            return PinResult(ok=False, attempts_left=0, known=False)
        return self.ledger.count_pin_verdict(key, bool(info.valid_pin), policy, now, kiosk_id)

    # ------------------------------------------------------------------ loans

    def lend(
        self,
        op: LendOp,
        scheme: str,
        number: str,
        item: str,
        library_id: str,
        system: str,
        kiosk_id: str | None = None,
    ) -> IlsLoan:
        """The one path of a loan a member's system makes while the reader waits: 11
        (`op` "checkout") or 29 ("renew") at the book's system, after the hub's rules
        allowed it, for the patron the system lends to (`IlsRouting.patron_for`), never
        ahead of a call about the book still queued. IlsRefusal when the system refuses,
        does not answer, has no guest patron for the card's scheme, or still waits for an
        earlier call about this book.

        A checkout is in the ledger before its 11 leaves (hub/ledger/ils_live.py, inside the
        reader's session at `kiosk_id`): lent, it waits for its loan txn; with no certain
        answer it stays pending; either way it is checked back in if no txn claims it in
        time. A refusal of our client's own resend (`Sip2Client.sent_twice`: the first
        11's answer was lost with its connection) is checked against the patron's record
        (63): the book on it means the first 11 lent it. A renewal is recorded once the system renewed it, for its txn to claim."""
        patron = self._patron(system, scheme, number)
        self._not_behind_queue(system, item)
        now = self.clock()
        key = card_hash(scheme, number)
        call_id: int | None = None
        try:
            with self._client(system) as client:
                if op == "checkout":
                    call_id = self.ledger.record_pending_checkout(
                        system, item, library_id, now,
                        patron_id=patron.patron_id, card_hash=key, kiosk_id=kiosk_id,
                    )  # fmt: skip
                    result = client.checkout(patron.patron_id, item, at=now)
                    if not result.ok and client.sent_twice and self._charged(client, patron, item):
                        # the refusal answers our client's resend: the first 11 lent it
                        result = replace(result, ok=True)
                else:
                    result = client.renew(patron.patron_id, item, at=now)
        except IlsRefusal as refusal:
            if call_id is not None:
                cause = type(refusal.__cause__).__name__ if refusal.__cause__ else refusal.code
                self.ledger.note_checkout_uncertain(call_id, f"the 11 may have reached the system: outcome unknown ({cause})")
            raise
        if not result.ok:
            if call_id is not None:
                self.ledger.mark_checkout_refused(call_id, now, result.screen_message)
            raise IlsRefusal("ils_refused", result.screen_message, system, title=result.title)
        if call_id is not None:
            self.ledger.checkout_lent(call_id, result.due_date, item, result.title, self._member_of(item, system))
        else:
            self.ledger.record_live_renewal(
                system, item, library_id, now, patron_id=patron.patron_id, card_hash=key, due=result.due_date
            )
        return IlsLoan(system, patron, result.title, result.due_date)

    def return_route(self, item: str, library_id: str, system: str) -> IlsRoute | None:
        """09 at the book's system with the kiosk's library as the current location, and
        the route from its answer; None when the hub's own rule routes the book instead:
        the system does not answer, refused the 09, answered only our client's resend of
        it (the answer with the route was lost), or still waits for an earlier call about
        this book (the return txn then queues the checkin).

        The checkin is in the ledger before its 09 leaves (hub/ledger/ils_live_checkin.py),
        as a live checkout is: with no answer it stays pending, and its return txn has it
        resent as a retry (a first send would be refused "not checked out" by a system
        that had checked the book in: a spurious conflict); a refusal of a first send is
        kept for the return txn to judge as the drainer judges a queued one."""
        if self.ledger.item_waiting(system, item):
            return None
        now = self.clock()
        call_id: int | None = None
        try:
            with self._client(system) as client:
                call_id = self.ledger.record_pending_checkin(system, item, library_id, now)
                result = client.checkin(item, at=now, current_location=library_id)
                echo = not result.ok and client.sent_twice  # the refusal answers our own resend
        except IlsRefusal as refusal:
            if call_id is not None:
                cause = type(refusal.__cause__).__name__ if refusal.__cause__ else refusal.code
                if client.request_sent:
                    self.ledger.note_checkin_uncertain(call_id, f"the 09 may have reached the system: outcome unknown ({cause})")
                else:  # it never left (connecting failed): the return txn queues a first send
                    self.ledger.drop_unsent_checkin(call_id)
            return None
        assert call_id is not None
        member = self._member_of(item, system)
        if echo:
            self.ledger.checkin_made(call_id, now, None, item, result.title, member)
            return None
        if not result.ok:
            self.ledger.checkin_refused(call_id, result.screen_message, item, result.title, member)
            return None
        route = Route(*self._route(item, library_id, result.alert_type, result.destination))
        self.ledger.checkin_made(call_id, now, route, item, result.title, member)
        return IlsRoute(route.route, route.library_id, title=result.title)

    def _route(self, item: str, library_id: str, alert_type: str | None, destination: str | None) -> tuple[str, str]:
        """The contract's route from a checkin answer: CV 01 hold here, 02 hold elsewhere
        and 04 transfer go to CT (or home); no alert: CT when it names another library,
        else home (shelved here when home is here)."""
        target = self._library_of(destination)
        home = self.item_member(item) or library_id
        if alert_type == "01":
            return "hold", library_id
        if alert_type in ("02", "04"):
            goal = target or home
            return ("shelve", library_id) if goal == library_id and alert_type == "04" else ("transfer", goal)
        if target is not None and target != library_id:
            return "transfer", target
        return ("shelve", library_id) if home == library_id else ("transfer", home)

    def _library_of(self, location: str | None) -> str | None:
        """A CT destination as a member: its id, or its institution code."""
        if not location:
            return None
        location = location.strip()
        if location in self.registry.members:
            return location
        member = self.registry.member_for_code(location)
        return member.id if member is not None else None

    # ------------------------------------------------------------------ txns

    def follow_txn(self, ledger: IlsLedger, txn: messages.Txn, ack: messages.Ack, now: datetime) -> messages.Ack:
        """Inside a txn's commit (hub/ledger/commits.py): claim the live call the txn stands for
        (a return settles its live checkin: delivered, resent as a retry, or judged a
        conflict), or queue the call the book's system is owed. A loan or renewal the system made
        keeps the system's due date in the ledger (and in the ack). Books of the hub's own
        catalogue, and txns not committed, are left alone."""
        if ack.result != "committed":
            return ack
        system = self.routing.item_system(txn.item, ledger.item_home(txn.item))
        if system is None:
            return ack
        op = _TXN_OPS[txn.kind]
        key = card_hash(txn.card.scheme, txn.card.number) if txn.card else None
        if op == "checkout":
            live = ledger.claim_live_checkout(system, txn.item, key, txn.kiosk_id, txn.txn_id)
            claimed = (live.id, live.due) if live is not None and live.lent else None
        elif op == "checkin":
            settled = ledger.claim_live_checkin(system, txn.item, txn.txn_id, txn.kiosk_id, now)
            if settled == "queued":  # its 09's outcome is unknown: resent, as a retry
                self.wake(system)
            if settled is not None:
                return ack
            claimed = None
        else:
            claimed = ledger.claim_live_call(system, op, txn.item, key, txn.txn_id, txn.kiosk_id, now)
        if claimed is not None:
            _, due = claimed
            if due is not None:
                ledger.keep_system_due(txn.item, due)
                ack = ack.model_copy(update={"due": due})
            return ack
        patron_id = None
        if op != "checkin":
            if txn.card is None:
                return ack
            try:
                card_home = ledger.reader_home(key) if key else None
                card_system = self.routing.card_system(txn.card.scheme, txn.card.number, card_home)
                patron_id = self.routing.patron_for(system, txn.card.scheme, txn.card.number, card_system).patron_id
            except NoGuestPatron as exc:
                ledger.record_conflict_now(
                    system, op, txn.item, txn.library_id, txn.at, now, txn_id=txn.txn_id, kiosk_id=txn.kiosk_id,
                    reason="ils_no_guest_patron", summary=f"{txn.mode} {txn.kind} of item {txn.item}: {exc}",
                    card_hash=key,
                )  # fmt: skip
                return ack if ack.exception else ack.model_copy(update={"exception": "ils_no_guest_patron"})
        ledger.enqueue(
            system, op, txn.item, txn.library_id, txn.at, now,
            txn_id=txn.txn_id, kiosk_id=txn.kiosk_id, patron_id=patron_id, card_hash=key,
        )  # fmt: skip
        self.wake(system)
        return ack

    # ------------------------------------------------------------------ helpers

    @contextmanager
    def _client(self, system: str) -> Iterator[Any]:
        """A client of `system`'s pool; its failures become IlsRefusal and the link's
        state in `ils_links` (`hub status`)."""
        try:
            with self.pools[system].client() as client:
                yield client
        except Sip2Unavailable as exc:
            self._note_link(system, up=False, error=str(exc))
            raise IlsRefusal("ils_unavailable", None, system) from exc
        except Sip2AnswerMismatch as exc:  # out of step, or altered on the way: refused
            log.warning("SIP2 system %s: %s", system, exc)  # names the field, never the value
            self._note_link(system, up=True, error=str(exc))
            raise IlsRefusal("ils_answer_mismatch", None, system) from exc
        except Sip2ProtocolError as exc:
            log.warning("SIP2 system %s: %s", system, type(exc).__name__)
            self._note_link(system, up=True, error=str(exc))
            raise IlsRefusal("ils_unavailable", None, system) from exc
        except Sip2Error as exc:
            self._note_link(system, up=False, error=str(exc))
            raise IlsRefusal("ils_unavailable", None, system) from exc
        else:
            self._note_link(system, up=True)

    def _note_link(self, system: str, up: bool, error: str | None = None) -> None:
        try:
            self.ledger.note_link(system, up, self.clock(), error)
        except Exception:  # the link's state is for display; never fail an answer on it
            log.exception("could not record the link state of %s", system)

    def _patron(self, system: str, scheme: str, number: str) -> Patron:
        try:
            return self.routing.patron_for(system, scheme, number, self.card_system(scheme, number))
        except NoGuestPatron as exc:
            raise IlsRefusal("ils_no_guest_patron", None, system) from exc

    @staticmethod
    def _charged(client: Any, patron: Patron, item: str) -> bool:
        """Is `item` on the patron's record at the system (63)?"""
        return item in client.patron_information(patron.patron_id).charged_items

    def _not_behind_queue(self, system: str, item: str) -> None:
        if self.ledger.item_waiting(system, item):
            raise IlsRefusal("ils_unavailable", None, system)

    def _reader_home(self, scheme: str, number: str) -> str | None:
        return self.ledger.reader_home(card_hash(scheme, number))

    def _mirror_reader(self, reader: ReaderRecord) -> None:
        self.ledger.mirror_reader(reader)

    def _member_of(self, item: str, system: str) -> str:
        """The member a book of `system` is at home at in the ledger's mirror
        (hub/ledger/ils_mirror.py)."""
        return self.item_member(item) or next(m for m, s in self.routing.members.items() if s == system)


def ils_item_view(item: ItemRecord | None, barcode: str, member: str, on_loan_in_ledger: bool) -> ItemRecord:
    """The book as the hub's rules see it before asking its system: the system decides
    availability, holds and loanability; the ledger adds only its own open loan."""
    return ItemRecord(
        barcode=barcode,
        title=item.title if item is not None else "",
        home_library=member,
        state="on_loan" if on_loan_in_ledger else "on_shelf",
        hold_for=None,
        loanable=True,
    )
