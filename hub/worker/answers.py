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
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any

from contract import card_schemes, messages, privacy
from hub.ils.ils_operations import IlsGateway, IlsRefusal, LendOp, ils_item_view
from hub.ledger.kiosk_flags import CARD_WALKING, PIN_GUESSING
from hub.ledger.ledger import Ledger
from hub.ledger.pins import PinResult
from hub.ledger.queries import LoanRow
from hub.ledger.session_tokens import DEFAULT_TTL, NO_SESSION_TOKEN, SessionTokens, session_key
from hub.rules import rules
from hub.rules.registry import Registry
from hub.rules.rules import Decision, ItemRecord, ReaderRecord
from hub.rules.schemes import Scheme
from hub.worker.card_walk_guard import CARD_CHECKS_PAUSED, CardWalkGuard
from hub.worker.pin_guard import PIN_CHECKS_PAUSED, PinGuessGuard

log = logging.getLogger(__name__)

# Reasons only the hub gives (the rest are rules.REASONS).
HUB_REASONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "not_on_loan": (
            "这本书不在您的借阅记录里，不能续借。",
            "This book is not on loan to you, so it cannot be renewed.",
        ),
        "card_required": ("请先刷读者卡。", "Please tap your reader card first."),
        "pin_locked_staff": (
            "密码输错次数太多，卡已锁定。请带证件到服务台解锁。",
            "Too many wrong PINs: your card is locked. Please ask at the service desk to unlock it.",
        ),
        # checkout_auth / renew_auth without this card's valid session token at this kiosk
        "session_required": (
            "请重新刷卡并输入密码后再借书或续借。",
            "Please tap your card and enter your PIN again to borrow or renew.",
        ),
        # A member's own library system (hub/ils/ils_operations.py)
        "ils_unavailable": (
            "这本书或这张卡所属图书馆的系统暂时没有响应，请稍后再试，或到服务台办理。还书不受影响。",
            "The library's system is not answering. Please try again later or ask at the"
            " service desk. You can still return books.",
        ),
        "ils_refused": (
            "图书馆系统不同意这次操作，请到服务台询问。",
            "The library's system did not allow this. Please ask at the service desk.",
        ),
        "ils_answer_mismatch": (
            "图书馆系统的答复与请求不符，本次操作未完成，请到服务台询问。",
            "The library's system gave an answer that does not match the request, so nothing"
            " was done. Please ask at the service desk.",
        ),
        "ils_no_guest_patron": (
            "这本书所属的图书馆暂时不能借给这种读者卡，请到服务台询问。",
            "The library this book belongs to cannot lend it on this kind of card yet."
            " Please ask at the service desk.",
        ),
    }
)


def reason_message(code: str | None, note: str | None = None) -> messages.Bilingual | None:
    """The reader's words for a reason code (the code itself for one nobody wrote), with
    a library system's own words (`note`, its screen message) after them."""
    if not code:
        return None
    zh, en = rules.REASONS.get(code) or HUB_REASONS.get(code, (code, code))
    if note:
        zh, en = f"{zh}（{note[:200]}）", f"{en} ({note[:200]})"
    return messages.Bilingual(zh=zh, en=en)


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
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self.clock = clock
        self.local_tz = local_tz
        self.offline_max_items = offline_max_items
        self.pin_guard = pin_guard or PinGuessGuard()
        self.card_walk_guard = card_walk_guard or CardWalkGuard()
        self.session_ttl = session_ttl
        # Members' own library systems (hub/ils/ils_operations.py); None: the ledger alone.
        self.ils = ils
        self._sessions: SessionTokens | None = None

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
            case messages.CheckoutAuth():
                return self.checkout_auth(request, kiosk_id)
            case messages.RenewAuth():
                return self.renew_auth(request, kiosk_id)
            case messages.ReturnRoute():
                return self.return_route(request)
            case messages.Blocklist():
                return self.blocklist(request)
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
            return _unknown_card(scheme_id, refusal.code)
        self._note_card(kiosk_id, scheme_id, number, known=reader is not None)
        if reader is None:
            return _unknown_card(scheme_id)
        scheme = self.registry.schemes[scheme_id]
        decision = rules.reader_status(self.registry, reader, req.library_id, self.today())
        if scheme.pin_required:
            return messages.Response(
                scheme=scheme_id, state=_reader_state(reader, decision), pin_required=True, **_refusal(decision)
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
        loans with titles, allowance, the session token (when `with_token`), and with a
        `decision` the card's state and whether it may borrow here."""
        loans = self.ledger.active_loans(privacy.card_hash(reader.scheme, reader.number))
        verdict = {} if decision is None else {"state": _reader_state(reader, decision), **_refusal(decision)}
        return messages.Response(
            scheme=reader.scheme,
            masked_name=privacy.mask_name(reader.name),
            loans=_loan_lines(loans, scheme, with_titles=True),
            items_left=_items_left(loans, scheme),
            home_library=reader.home_library if reader.home_library in self.registry.members else None,
            session_token=self._session_token(kiosk_id, reader.scheme, reader.number) if with_token else None,
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
            return _unknown_card(scheme_id)
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
            return _unknown_card(scheme_id)
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
        refused = self._outside_session(req, kiosk_id)
        if refused is not None:
            return refused
        scheme_id, number = req.card.scheme, req.card.number
        known = self._card_known(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if known else None
        key = privacy.card_hash(scheme_id, number)
        item = self.ledger.item(req.item)
        loans = self.ledger.active_loans(key) if reader is not None else []
        system = self.ils.item_system(req.item) if self.ils is not None else None
        if self.ils is not None and system is not None:
            return self._ils_checkout(req, system, reader, item, len(loans), kiosk_id)
        decision = rules.checkout_decision(
            self.registry, reader, item, req.library_id, len(loans), self.clock(), reader_hash=key
        )
        return messages.Response(
            title=item.title if item is not None else None,
            home_library=item.home_library if item is not None else None,
            due=decision.due if decision.allowed else None,
            **_refusal(decision),
        )

    def _ils_checkout(
        self,
        req: messages.CheckoutAuth,
        system: str,
        reader: ReaderRecord | None,
        item: ItemRecord | None,
        loans: int,
        kiosk_id: str | None = None,
    ) -> messages.Response:
        """A book of a member's own system: the hub's rules for the reader and the
        library, then that system's checkout (`_ils_lend`)."""
        assert self.ils is not None
        member = self.ils.item_member(req.item) or ""
        on_loan = self.ledger.active_loan_for_item(req.item) is not None
        view = ils_item_view(item, req.item, member, on_loan)
        key = privacy.card_hash(req.card.scheme, req.card.number)
        decision = rules.checkout_decision(self.registry, reader, view, req.library_id, loans, self.clock(), key)
        title = item.title if item is not None else None
        if not decision.allowed:
            return messages.Response(title=title, home_library=member or None, **_refusal(decision))
        return self._ils_lend("checkout", req, system, decision, title, member, kiosk_id)

    def _ils_lend(
        self,
        op: LendOp,
        req: messages.CheckoutAuth | messages.RenewAuth,
        system: str,
        decision: Decision,
        title: str | None,
        home_library: str | None,
        kiosk_id: str | None,
    ) -> messages.Response:
        """The one answer path of a checkout or renewal the hub's rules allowed (`decision`)
        of a member's system's book: that system's 11 or 29 (`IlsGateway.lend`); the
        title and due date are its own, else the ledger's title and the rules' date."""
        assert self.ils is not None
        try:
            loan = self.ils.lend(op, req.card.scheme, req.card.number, req.item, req.library_id, system, kiosk_id)
        except IlsRefusal as refusal:
            return _ils_refusal(refusal, title, home_library)
        return messages.Response(
            allowed=True, title=loan.title or title, home_library=home_library or None, due=loan.due or decision.due
        )

    def renew_auth(self, req: messages.RenewAuth, kiosk_id: str | None = None) -> messages.Response:
        """May this reader renew this loan now: the new due date or why not; only inside
        the reader's session, as `checkout_auth`."""
        refused = self._outside_session(req, kiosk_id)
        if refused is not None:
            return refused
        scheme_id, number = req.card.scheme, req.card.number
        key = privacy.card_hash(scheme_id, number)
        reader = self.ledger.reader(scheme_id, number) if self._card_known(scheme_id, number) else None
        if reader is None:
            return _unknown_card(scheme_id)
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
        if self.ils is not None and system is not None and decision.allowed:
            return self._ils_lend("renew", req, system, decision, item.title, item.home_library, kiosk_id)
        return messages.Response(
            title=item.title,
            home_library=item.home_library,
            due=decision.due if decision.allowed else None,
            **_refusal(decision),
        )

    def _outside_session(
        self, req: messages.CheckoutAuth | messages.RenewAuth, kiosk_id: str | None
    ) -> messages.Response | None:
        """The `session_required` refusal when `req` lacks a session token valid now for
        its card at `kiosk_id` (a caller without a kiosk has none), else None. The log
        line names the kiosk and the token's problem, never the card."""
        card = req.card
        problem = (
            self.sessions().problem(req.session_token, kiosk_id, card.scheme, card.number, self.clock())
            if kiosk_id is not None
            else NO_SESSION_TOKEN
        )
        if problem is None:
            return None
        log.warning("%s from kiosk %s refused: %s", req.op, kiosk_id or "-", problem)
        return messages.Response(
            allowed=False, reason_code="session_required", message=reason_message("session_required")
        )

    def return_route(self, req: messages.ReturnRoute) -> messages.Response:
        """Where a book returned here goes: shelved here, to the hold shelf, or transferred.
        A book of a member's own system goes where that system's checkin (09) says; when
        it does not answer, where the hub's rules say (its return txn queues the 09)."""
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

    def blocklist(self, req: messages.Blocklist) -> messages.Response:
        """Keyed hashes of the cards a kiosk must refuse while offline, with the salt
        they were made with (new for every answer), and the offline limit."""
        salt = privacy.new_blocklist_salt()
        return messages.Response(
            blocked_hashes=self.ledger.blocklist_hashes(self.today(), salt),
            blocklist_salt=salt,
            offline_max_items=self.offline_max_items,
        )

    def ledger_query(self, req: messages.LedgerQuery) -> messages.Response:
        """How many committed ledger rows hold each txn id (0 or 1)."""
        return messages.Response(rows=self.ledger.ledger_counts(req.txn_ids))

    # ------------------------------------------------------------------ helpers

    def sessions(self) -> SessionTokens:
        """The session tokens under this ledger's key (its current PIN pepper, derived
        under the tokens' own label), made once."""
        if self._sessions is None:
            self._sessions = SessionTokens(session_key(self.ledger.pin_peppers().current), self.session_ttl)
        return self._sessions

    def _session_token(self, kiosk_id: str | None, scheme_id: str, number: str) -> str | None:
        """A token for this card at this kiosk; none for a caller outside the wire (no
        kiosk: nothing to bind it to)."""
        if kiosk_id is None:
            return None
        return self.sessions().issue(kiosk_id, scheme_id, number, self.clock())

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


def _refusal(decision: Decision) -> dict[str, Any]:
    """The Response fields for a decision: allowed, or why not in the reader's words."""
    if decision.allowed:
        return {"allowed": True}
    own = (
        messages.Bilingual(zh=decision.message_zh, en=decision.message_en)
        if decision.message_zh and decision.message_en
        else None
    )
    return {
        "allowed": False,
        "reason_code": decision.reason_code,
        "message": own or reason_message(decision.reason_code),
    }


def _loan_lines(loans: list[LoanRow], scheme: Scheme, with_titles: bool) -> list[messages.LoanLine]:
    """A reader's loans on the wire; titles only once the reader authenticated."""
    return [
        messages.LoanLine(
            item=loan.item,
            title=loan.title if with_titles else None,
            due=loan.due,
            renewals_left=max(0, scheme.max_renewals - loan.renewals),
        )
        for loan in loans
    ]


def _items_left(loans: list[LoanRow], scheme: Scheme) -> int:
    return max(0, scheme.max_items - len(loans))


def _unknown_card(scheme_id: str, reason: str = "card_unknown") -> messages.Response:
    return messages.Response(
        scheme=scheme_id,
        state="unknown",
        allowed=False,
        reason_code=reason,
        message=reason_message(reason),
    )


def _ils_refusal(refusal: IlsRefusal, title: str | None, home_library: str | None) -> messages.Response:
    """A member's system refused (or did not answer): the reason, in its own words too."""
    return messages.Response(
        allowed=False,
        reason_code=refusal.code,
        message=reason_message(refusal.code, refusal.note),
        title=title,
        home_library=home_library or None,
    )


def _reader_state(reader: ReaderRecord, decision: Decision) -> str:
    """The wire's reader state: the ledger's state, or "expired" when the rules found the
    card past its date."""
    code = (decision.reason_code or "") if not decision.allowed else ""
    if reader.state in ("blocked", "expired"):
        return reader.state
    if "expired" in code:
        return "expired"
    if "blocked" in code:
        return "blocked"
    return "valid"
