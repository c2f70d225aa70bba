"""The phone e-card login (issue 19 item 4): a token the desk scanner read off a
reader's phone, judged before the reader is looked up.

Checked in this order, each refusal `ok=true, allowed=false` with its reason code and
the reader's words (hub/worker/refusals.py): genuine (`ecard_invalid`: malformed,
forged, tampered, or claiming more than a minute), not expired on the hub's clock
(`ecard_expired`), made for the kiosk whose topic the request came on (`ecard_foreign`:
the topic is the kiosk's certificate's, which the broker checks; nothing in the payload
is believed), not a staff card (`ecard_not_for_staff`: staff log in with card and PIN),
and not spent before (`ecard_used`, in the ledger: a replay after a restart or at
another worker is refused too). Only a token that passes all of them is spent.

What a caller may rely on: the log line names the kiosk and the reason, never the card
or the token; a caller outside the wire (no kiosk) is refused `ecard_foreign`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from contract import messages
from contract.ecard import EcardClaims
from hub.ledger.ecard_tokens import ECARD_FOREIGN, ECARD_USED, EcardTokens, ecard_key
from hub.ledger.ledger import Ledger
from hub.worker.refusals import reason_message

log = logging.getLogger(__name__)

ECARD_NOT_FOR_STAFF = "ecard_not_for_staff"


@dataclass(frozen=True)
class EcardVerdict:
    """A token's card when it logs its reader in (`refusal` None), else the refusal."""

    claims: EcardClaims | None
    refusal: messages.Response | None


class EcardGate:
    """Judges and spends e-card tokens under the key of one ledger, on the hub's `clock`."""

    def __init__(self, ledger: Ledger, clock: Callable[[], datetime], staff_scheme: str = "staff") -> None:
        self.ledger = ledger
        self.clock = clock
        self.staff_scheme = staff_scheme
        self._tokens: EcardTokens | None = None

    def tokens(self) -> EcardTokens:
        """The e-card tokens under this ledger's key (its current PIN pepper, derived
        under the e-card label), made once."""
        if self._tokens is None:
            self._tokens = EcardTokens(ecard_key(self.ledger.pin_peppers().current))
        return self._tokens

    def judge(self, req: messages.EcardLogin, kiosk_id: str | None) -> EcardVerdict:
        """Whether `req`'s token logs its reader in at `kiosk_id` now; spends it if so."""
        now = self.clock()
        problem, token = self.tokens().problem(req.token, kiosk_id or "", now)
        if problem is None and token is not None and token.claims.scheme == self.staff_scheme:
            problem = ECARD_NOT_FOR_STAFF
        if kiosk_id is None:
            problem = problem or ECARD_FOREIGN
        if problem is None and token is not None:
            if self.ledger.spend_ecard_token(token.claims.token_id, kiosk_id or "", now):
                return EcardVerdict(token.claims, None)
            problem = ECARD_USED
        log.warning("ecard_login from kiosk %s refused: %s", kiosk_id or "-", problem)
        refusal = messages.Response(allowed=False, reason_code=problem, message=reason_message(problem))
        return EcardVerdict(None, refusal)
