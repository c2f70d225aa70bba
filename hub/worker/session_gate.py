"""The PIN-session gate: the session token an authenticated reader's answer carries
(hub/ledger/session_tokens.py, under the ledger's PIN pepper), and the `session_required`
refusal of a checkout or renewal asked for without a token valid now for its card at its
kiosk, before anything is looked up or asked of a member's system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from contract import messages
from hub.ledger.ledger import Ledger
from hub.ledger.session_tokens import DEFAULT_TTL, NO_SESSION_TOKEN, SessionTokens, session_key
from hub.worker.refusals import reason_message

log = logging.getLogger(__name__)


class SessionGate:
    """The session tokens of one ledger, good for `ttl` (`[hub] session_token_ttl_s`), on
    the hub's `clock`."""

    def __init__(self, ledger: Ledger, clock: Callable[[], datetime], ttl: timedelta = DEFAULT_TTL) -> None:
        self.ledger = ledger
        self.clock = clock
        self.ttl = ttl
        self._tokens: SessionTokens | None = None

    def tokens(self) -> SessionTokens:
        """The session tokens under this ledger's key (its current PIN pepper, derived
        under the tokens' own label), made once."""
        if self._tokens is None:
            self._tokens = SessionTokens(session_key(self.ledger.pin_peppers().current), self.ttl)
        return self._tokens

    def token(self, kiosk_id: str | None, scheme_id: str, number: str) -> str | None:
        """A token for this card at this kiosk; none for a caller outside the wire (no
        kiosk: nothing to bind it to)."""
        if kiosk_id is None:
            return None
        return self.tokens().issue(kiosk_id, scheme_id, number, self.clock())

    def refusal(
        self, req: messages.CheckoutAuth | messages.RenewAuth, kiosk_id: str | None
    ) -> messages.Response | None:
        """The `session_required` refusal when `req` lacks a session token valid now for
        its card at `kiosk_id` (a caller without a kiosk has none), else None. The log
        line names the kiosk and the token's problem, never the card."""
        card = req.card
        problem = (
            self.tokens().problem(req.session_token, kiosk_id, card.scheme, card.number, self.clock())
            if kiosk_id is not None
            else NO_SESSION_TOKEN
        )
        if problem is None:
            return None
        log.warning("%s from kiosk %s refused: %s", req.op, kiosk_id or "-", problem)
        return messages.Response(
            allowed=False, reason_code="session_required", message=reason_message("session_required")
        )
