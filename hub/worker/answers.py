"""The hub's answers to kiosk requests: who is this reader, is this PIN right, may this
book be borrowed or renewed, where does a returned book go, which cards to refuse
offline, which txns the ledger holds.

No MQTT here: a validated request in, a `contract.messages.Response` out, so every answer
is testable with a ledger and a registry alone. What a caller may rely on:

- A refusal always carries a reason code and a message in Chinese and English (the
  rules' own words, or `rules.REASONS` / `HUB_REASONS` for the code).
- An answer never carries a card number or a full name: a reader's name is masked, the
  blocklist holds card hashes.
- `checkout_auth` and `renew_auth` are answered only inside the reader's session: their
  `session_token` must be valid now for this card at this kiosk, else `session_required`
  before anything is looked up, and no member's system is asked to lend or renew.
- A card whose number is not valid for its scheme, or which the ledger does not know,
  is answered as `card_unknown`, never as an error.
- Who a reader is and what they read come only after authentication: for a scheme
  that needs a PIN, the lookup says only whether the card may go on here (its state,
  whether it may borrow or only return, and that a PIN is needed); the masked name, home
  library, loans with due dates and titles, and the allowance come with the right PIN
  (`pin_check`). For a scheme without PINs the tap is the authentication and the
  lookup carries them. The same answer carries the session token
  (hub/ledger/session_tokens.py) that online loans and renewals of this card at this kiosk
  must carry.
- A kiosk walking card numbers (hub/worker/card_walk_guard.py) or guessing PINs
  (hub/worker/pin_guard.py) is flagged for staff (hub/ledger/kiosk_flags.py) and paused, before the
  ledger or a member's system is asked about the next card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from contract import card_schemes, messages, privacy
from hub.ils.ils_operations import IlsGateway, IlsRefusal
from hub.ledger.kiosk_flags import CARD_WALKING, PIN_GUESSING
from hub.ledger.ledger import Ledger
from hub.ledger.pins import PinResult
from hub.ledger.session_tokens import DEFAULT_TTL
from hub.rules import rules
from hub.rules.offline_limits import OfflineLimits
from hub.rules.registry import Registry
from hub.rules.rules import Decision, ReaderRecord
from hub.rules.schemes import Scheme
from hub.worker.card_walk_guard import CARD_CHECKS_PAUSED, CardWalkGuard
from hub.worker.ecard_login import EcardGate
from hub.worker.ils_lending import IlsLending
from hub.worker.pin_guard import PIN_CHECKS_PAUSED, PinGuessGuard
from hub.worker.reader_view import due_soon, hold_lines, items_left, loan_lines, reader_state
from hub.worker.refusals import reason_message, refusal_fields, unknown_card
from hub.worker.session_gate import SessionGate

log = logging.getLogger(__name__)

class RequestAnswers:
    """Answers requests from one ledger and registry. `clock` gives the hub's time (UTC);
    `local_tz` is the alliance's calendar, on which a card expires; `offline_max_items`
    is what kiosks may lend per reader while offline (sent with the blocklist);
    `session_ttl` is how long a session token is good for (`[hub] session_token_ttl_s`);
    `ils` the members' own library systems (`[sip2]`): their cards are looked up and their
    PINs checked there, their books lent, renewed and taken back there. `pin_guard` and
    `card_walk_guard` watch each kiosk's wrong PINs and the cards it asks about."""

    def __init__(
        self,
        ledger: Ledger,
        registry: Registry,
        clock: Callable[[], datetime],
        local_tz: tzinfo,
        offline_max_items: int,
        pin_guard: PinGuessGuard | None = None,
        session_ttl: timedelta = DEFAULT_TTL,
        ils: IlsGateway | None = None,
        card_walk_guard: CardWalkGuard | None = None,
        offline_limits: OfflineLimits | None = None,
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self.clock = clock
        self.local_tz = local_tz
        self.offline_max_items = offline_max_items
        # Vans get their own offline limit (`[hub] van_kiosks`); without: one for all.
        self.offline_limits = offline_limits or OfflineLimits(offline_max_items, offline_max_items)
        self.pin_guard = pin_guard or PinGuessGuard()
        self.card_walk_guard = card_walk_guard or CardWalkGuard()
        self.session_ttl = session_ttl
        # Members' own library systems (hub/ils/ils_operations.py); None: the ledger alone.
        self.ils = ils
        self.lending = IlsLending(ils, registry, clock) if ils is not None else None
        self.session_gate = SessionGate(ledger, clock, session_ttl)
        self.ecard_gate = EcardGate(ledger, clock)

    def answer(self, request: Any, kiosk_id: str | None = None) -> messages.Response:
        """The answer to a validated request (`messages.parse_request`) from `kiosk_id`
        (None only for callers outside the wire, e.g. tests: no per-kiosk PIN guard); it
        raises only for a fault of the hub's own (the ledger gone, a kiosk library the
        registry lacks)."""
        match request:
            case messages.ReaderLookup():
                return self.reader_lookup(request, kiosk_id)
            case messages.PinCheck():
                return self.pin_check(request, kiosk_id)
            case messages.EcardLogin():
                return self.ecard_login(request, kiosk_id)
            case messages.CheckoutAuth():
                return self.checkout_auth(request, kiosk_id)
            case messages.RenewAuth():
                return self.renew_auth(request, kiosk_id)
            case messages.ReturnRoute():
                return self.return_route(request)
            case messages.Blocklist():
                return self.blocklist(request, kiosk_id)
            case messages.LedgerQuery():
                return self.ledger_query(request)
        raise TypeError(f"no answer for request {type(request).__name__}")

    def today(self) -> date:
        """The alliance's local date (expiry is a local-calendar matter)."""
        return self.clock().astimezone(self.local_tz).date()

    # ------------------------------------------------------------------ readers

    def reader_lookup(self, req: messages.ReaderLookup, kiosk_id: str | None = None) -> messages.Response:
        """May this card go on here: its state, whether it may borrow or only return
        (`allowed` and the reason), whether a PIN is needed. Who the reader is (masked
        name, home library), their loans and allowance, and a session token only when the
        scheme needs no PIN (the tap is the authentication then); otherwise they come
        with the right PIN (`pin_check`)."""
        scheme_id, number = req.card.scheme, req.card.number
        paused = self._card_checks_paused(kiosk_id)
        if paused is not None:
            return paused
        try:
            reader = self._reader(scheme_id, number)
        except IlsRefusal as refusal:
            return unknown_card(scheme_id, refusal.code)
        self._note_card(kiosk_id, scheme_id, number, known=reader is not None)
        if reader is None:
            return unknown_card(scheme_id)
        scheme = self.registry.schemes[scheme_id]
        decision = rules.reader_status(self.registry, reader, req.library_id, self.today())
        if scheme.pin_required:
            return messages.Response(
                scheme=scheme_id, state=reader_state(reader, decision), pin_required=True, **refusal_fields(decision)
            )
        return self._reader_answer(
            reader, scheme, decision, with_token=decision.allowed, kiosk_id=kiosk_id, pin_required=False
        )

    def _reader_answer(
        self,
        reader: ReaderRecord,
        scheme: Scheme,
        decision: Decision | None,
        with_token: bool,
        kiosk_id: str | None,
        **fields: Any,
    ) -> messages.Response:
        """Everything an authenticated reader is greeted with: masked name, home library,
        loans with titles, allowance, holds ready or in transit, the loans due within
        three days (by the hub's clock, never the kiosk's), the session token (when `with_token`), and with a
        `decision` the card's state and whether it may borrow here."""
        key = privacy.card_hash(reader.scheme, reader.number)
        loans = self.ledger.active_loans(key)
        verdict = {} if decision is None else {"state": reader_state(reader, decision), **refusal_fields(decision)}
        return messages.Response(
            scheme=reader.scheme,
            masked_name=privacy.mask_name(reader.name),
            loans=loan_lines(loans, scheme, with_titles=True),
            items_left=items_left(loans, scheme),
            # Left out when empty: a kiosk of an earlier release rejects unknown fields,
            # so only a reader with holds or loans due soon needs an updated kiosk.
            holds=hold_lines(self.ledger.reader_holds(key), self._library_name) or None,
            due_soon=due_soon(loans, self.clock(), self.local_tz) or None,
            home_library=reader.home_library if reader.home_library in self.registry.members else None,
            session_token=self.session_gate.token(kiosk_id, reader.scheme, reader.number) if with_token else None,
            **verdict,
            **fields,
        )

    def pin_check(self, req: messages.PinCheck, kiosk_id: str | None = None) -> messages.Response:
        """Right or wrong, attempts left, and the lock if this attempt locked the card;
        a right PIN brings who the reader is, their loans and the session token. Every
        wrong PIN counts toward the card's lockout; a kiosk guessing across cards or
        locking several out is flagged and paused (hub/worker/pin_guard.py), one walking card
        numbers too (hub/worker/card_walk_guard.py)."""
        scheme_id, number = req.card.scheme, req.card.number
        now = self.clock()
        if kiosk_id is not None and self.pin_guard.paused_until(kiosk_id, now) is not None:
            return messages.Response(ok=False, error=PIN_CHECKS_PAUSED)
        paused = self._card_checks_paused(kiosk_id)
        if paused is not None:
            return paused
        known = self._card_known(scheme_id, number)
        try:
            result = self._check_pin(scheme_id, number, req.pin, now, kiosk_id) if known else None
        except IlsRefusal as refusal:
            return messages.Response(ok=False, error=refusal.code)
        card_known = result is not None and result.known
        self._note_card(kiosk_id, scheme_id, number, known=card_known)
        if kiosk_id is not None and (result is None or not result.ok):
            # unknown card numbers count too: enumerating numbers is part of the attack
            why = self.pin_guard.record_failure(kiosk_id, privacy.card_hash(scheme_id, number), now)
            if result is not None and result.locked_now:
                locked = self.ledger.cards_locked_by(kiosk_id, now)
                why = self.pin_guard.lockouts_caused(kiosk_id, locked, now) or why
            self._flag(kiosk_id, PIN_GUESSING, why)
        if result is None or not result.known:
            return unknown_card(scheme_id)
        if result.ok:
            return self._pin_right(scheme_id, number, result.attempts_left, kiosk_id)
        reason = "pin_locked_staff" if result.until_staff else "pin_locked" if result.locked_until else "pin_wrong"
        return messages.Response(
            scheme=scheme_id,
            pin_ok=False,
            attempts_left=result.attempts_left,
            locked_until=None if result.until_staff else result.locked_until,
            reason_code=reason,
            message=reason_message(reason),
        )

    def ecard_login(self, req: messages.EcardLogin, kiosk_id: str | None = None) -> messages.Response:
        """A phone e-card (hub/worker/ecard_login.py): a genuine, unexpired, unspent token
        made for this kiosk is answered as a tap whose PIN the phone already proved: the
        card's state and whether it may borrow here, who the reader is, their loans and
        the session token, as `reader_lookup` answers for a scheme without PINs."""
        verdict = self.ecard_gate.judge(req, kiosk_id)
        if verdict.refusal is not None or verdict.claims is None:
            return verdict.refusal or messages.Response(ok=False, error="internal_error")
        scheme_id, number = verdict.claims.scheme, verdict.claims.number
        try:
            reader = self._reader(scheme_id, number)
        except IlsRefusal as refusal:
            return unknown_card(scheme_id, refusal.code)
        if reader is None:
            return unknown_card(scheme_id)
        scheme = self.registry.schemes[scheme_id]
        decision = rules.reader_status(self.registry, reader, req.library_id, self.today())
        return self._reader_answer(
            reader, scheme, decision, with_token=decision.allowed, kiosk_id=kiosk_id, pin_required=False
        )

    def _check_pin(self, scheme_id: str, number: str, pin: str, now: datetime, kiosk_id: str | None) -> PinResult:
        """The card's PIN checked where the card lives: its member's system, or the ledger."""
        policy = self.registry.schemes[scheme_id]
        system = self.ils.card_system(scheme_id, number) if self.ils is not None else None
        if self.ils is not None and system is not None:
            return self.ils.check_pin(scheme_id, number, pin, policy, system, kiosk_id)
        return self.ledger.check_pin(scheme_id, number, pin, now, policy=policy, kiosk_id=kiosk_id)

    def _pin_right(self, scheme_id: str, number: str, attempts_left: int, kiosk_id: str | None) -> messages.Response:
        """A right PIN: who the reader is (masked name, home library), their loans with
        titles, the allowance and the session token. Whether the card may borrow here
        the lookup said already (the request names no library)."""
        scheme = self.registry.schemes[scheme_id]
        reader = self.ledger.reader(scheme_id, number)  # a member system's reader is mirrored there
        if reader is None:  # the card was removed between the check and now
            return unknown_card(scheme_id)
        return self._reader_answer(
            reader, scheme, None, with_token=True, kiosk_id=kiosk_id, pin_ok=True, attempts_left=attempts_left
        )

    # ------------------------------------------------------------------ loans

    def checkout_auth(self, req: messages.CheckoutAuth, kiosk_id: str | None = None) -> messages.Response:
        """May this reader borrow this book here now: the title, and the due date or why not.
        Only inside the reader's session: without the session token the hub gave this card
        at this kiosk (its right PIN, or its tap for a scheme without PINs), valid now, the
        answer is `session_required` and nothing else is looked up or asked of a member's
        system; on both paths alike, since the loan txn needs that token too."""
        refused = self.session_gate.refusal(req, kiosk_id)
        if refused is not None:
            return refused
        scheme_id, number = req.card.scheme, req.card.number
        known = self._card_known(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if known else None
        key = privacy.card_hash(scheme_id, number)
        item = self.ledger.item(req.item)
        loans = self.ledger.active_loans(key) if reader is not None else []
        system = self.ils.item_system(req.item) if self.ils is not None else None
        if self.lending is not None and system is not None:
            on_loan = self.ledger.active_loan_for_item(req.item) is not None
            return self.lending.checkout(req, system, reader, item, len(loans), on_loan, kiosk_id)
        decision = rules.checkout_decision(
            self.registry, reader, item, req.library_id, len(loans), self.clock(), reader_hash=key
        )
        return messages.Response(
            title=item.title if item is not None else None,
            home_library=item.home_library if item is not None else None,
            due=decision.due if decision.allowed else None,
            **refusal_fields(decision),
        )

    def renew_auth(self, req: messages.RenewAuth, kiosk_id: str | None = None) -> messages.Response:
        """May this reader renew this loan now: the new due date or why not; only inside
        the reader's session, as `checkout_auth`."""
        refused = self.session_gate.refusal(req, kiosk_id)
        if refused is not None:
            return refused
        scheme_id, number = req.card.scheme, req.card.number
        key = privacy.card_hash(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if self._card_known(scheme_id, number) else None
        if reader is None:
            return unknown_card(scheme_id)
        item = self.ledger.item(req.item)
        loan = self.ledger.active_loan_for_item(req.item)
        if item is None or loan is None or loan.card_hash != key:
            return messages.Response(
                allowed=False,
                reason_code="not_on_loan",
                message=reason_message("not_on_loan"),
                title=item.title if item is not None else None,
            )
        hold = self.ledger.waiting_hold(req.item)
        hold_waiting = hold is not None and hold[0] != key
        decision = rules.renew_decision(
            self.registry, reader, item, loan.due, loan.renewals, self.clock(), hold_waiting
        )
        system = self.ils.item_system(req.item) if self.ils is not None else None
        if self.lending is not None and system is not None and decision.allowed:
            return self.lending.lend("renew", req, system, decision, item.title, item.home_library, kiosk_id)
        return messages.Response(
            title=item.title,
            home_library=item.home_library,
            due=decision.due if decision.allowed else None,
            **refusal_fields(decision),
        )

    def return_route(self, req: messages.ReturnRoute) -> messages.Response:
        """Where a book returned here goes: shelved here, to the hold shelf, or transferred.
        A book of a member's own system goes where that system's checkin (09) says; when
        it does not answer, refuses the 09 or its answer is lost, where the hub's rules say
        (its return txn settles the 09: hub/ledger/ils_live_checkin.py)."""
        system = self.ils.item_system(req.item) if self.ils is not None else None
        if self.ils is not None and system is not None:
            routed = self.ils.return_route(req.item, req.library_id, system)
            if routed is not None:
                return messages.Response(
                    allowed=True,
                    title=routed.title,
                    home_library=self.ils.item_member(req.item),
                    route=routed.route,  # type: ignore[arg-type]
                    route_library=routed.library_id,
                    route_library_name=self._library_name(routed.library_id),
                )
        item = self.ledger.item(req.item)
        if item is None:
            # Returns are always taken: an unknown book stays here for staff to look at.
            return messages.Response(
                allowed=True,
                route="shelve",
                route_library=req.library_id,
                route_library_name=self._library_name(req.library_id),
                reason_code="item_unknown",
                message=reason_message("item_unknown"),
            )
        hold = self.ledger.waiting_hold(req.item)
        route = rules.route_return(self.registry, item, req.library_id, hold[1] if hold else None)
        return messages.Response(
            allowed=True,
            title=item.title,
            home_library=item.home_library,
            route=route.route,
            route_library=route.library_id,
            route_library_name=self._library_name(route.library_id),
        )

    # ------------------------------------------------------------------ kiosk upkeep

    def blocklist(self, req: messages.Blocklist, kiosk_id: str | None = None) -> messages.Response:
        """Keyed hashes of the cards a kiosk must refuse while offline, with the salt
        they were made with (new for every answer), and the offline limit at `kiosk_id`
        (a van's larger one when the hub's settings list it as a van)."""
        salt = privacy.new_blocklist_salt()
        return messages.Response(
            blocked_hashes=self.ledger.blocklist_hashes(self.today(), salt),
            blocklist_salt=salt,
            offline_max_items=self.offline_limits.max_items(kiosk_id),
        )

    def ledger_query(self, req: messages.LedgerQuery) -> messages.Response:
        """How many committed ledger rows hold each txn id (0 or 1)."""
        return messages.Response(rows=self.ledger.ledger_counts(req.txn_ids))

    # ------------------------------------------------------------------ helpers

    def _card_checks_paused(self, kiosk_id: str | None) -> messages.Response | None:
        """The answer to a kiosk whose card checks are paused for walking numbers."""
        if kiosk_id is not None and self.card_walk_guard.paused_until(kiosk_id, self.clock()) is not None:
            return messages.Response(ok=False, error=CARD_CHECKS_PAUSED)
        return None

    def _note_card(self, kiosk_id: str | None, scheme_id: str, number: str, known: bool) -> None:
        """Tell the walking guard which card a kiosk asked about; flag the kiosk it pauses."""
        if kiosk_id is None:
            return
        why = self.card_walk_guard.note_card(kiosk_id, privacy.card_hash(scheme_id, number), known, self.clock())
        self._flag(kiosk_id, CARD_WALKING, why)

    def _flag(self, kiosk_id: str, flag: str, why: str | None) -> None:
        """Raise `flag` on the kiosk for staff (hub/ledger/kiosk_flags.py) when a guard said why."""
        if why is not None:
            self.ledger.raise_kiosk_flag(kiosk_id, flag, why, self.clock())

    def _reader(self, scheme_id: str, number: str) -> ReaderRecord | None:
        """The card's reader where the card lives: its member's system (mirrored into the
        ledger), or the ledger; None for a card nobody knows. IlsRefusal when the
        member's system does not answer."""
        if not self._card_known(scheme_id, number):
            return None
        system = self.ils.card_system(scheme_id, number) if self.ils is not None else None
        if self.ils is not None and system is not None:
            return self.ils.reader(scheme_id, number, system)
        return self.ledger.reader(scheme_id, number)

    def _card_known(self, scheme_id: str, number: str) -> bool:
        """A scheme the registry has and a number valid for it: only then is the ledger asked."""
        return scheme_id in self.registry.schemes and card_schemes.number_is_valid(scheme_id, number)

    def _library_name(self, library_id: str | None) -> messages.Bilingual | None:
        member = self.registry.members.get(library_id) if library_id else None
        return None if member is None else messages.Bilingual(zh=member.name_zh, en=member.name_en)
