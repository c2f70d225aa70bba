"""A phone e-card scanned at the desk (issue 19 item 4): the reader's library app shows a
short-lived QR token, the desk scanner reads it as a line of text (`contract.ecard`),
and the hub, never the kiosk, says whether it logs the reader in.

Policies worth knowing:
- The scan is a card tap whose PIN the phone already proved: the kiosk reads the card
  from the token to start the session and sends the token (`ecard_login`); the hub's
  answer is handled as a lookup of a scheme without PINs (`session.lookup_answered`),
  so the reader is greeted with the hub's session token, loans and holds.
- Only the hub can tell a genuine token: while it cannot be reached an e-card logs
  nobody in (no offline admission on a token's word: anyone can type one), and the
  reader is told to tap their card instead.
- A refusal (expired, used, made for another kiosk, not genuine) ends the session with
  the hub's words on the screen; logs carry the reason, never the token or the card.
"""

from __future__ import annotations

from dataclasses import replace

from contract.ecard import read_ecard
from contract.messages import CardRef, EcardLogin, Response
from drivers.events import BarcodeRead
from firmware.core import session
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep, Log
from firmware.core.identify import mask
from firmware.core.requests import link_is_down, send, waiting_for
from firmware.core.state import Reader, State, with_notice
from firmware.view import Text

ECARD_REFUSALS_PREFIX = "ecard_"  # the hub's reason codes for a refused token


def ecard_scanned(state: State, event: BarcodeRead, config: CoreConfig) -> Step:
    """An e-card's text at the desk scanner: log its reader in through the hub."""
    if waiting_for(state, "lookup", "pin", "ecard"):
        return state, ()
    token = read_ecard(event.text)
    if token is None:
        return _refuse(state, "notice.ecard_unreadable", {"reason": "malformed"})
    claims = token.claims
    reader = state.reader
    if reader is not None and state.screen != "summary":
        if reader.card.number == claims.number:
            return state, ()  # the same reader again: the session simply goes on
        return with_notice(state, "notice.finish_first"), (Beep("warn"),)
    if link_is_down(state):
        return _refuse(state, "notice.ecard_needs_hub", {"reason": "offline"})
    card = CardRef(scheme=claims.scheme, number=claims.number)
    state = replace(session.end_session(state, config), card_left_since=None)
    reader = Reader(card=card, card_hash=config.card_hash(card.scheme, card.number), staff=False)
    state = replace(state, reader=reader, session=state.session + 1)
    state, effect = send(state, "ecard", EcardLogin(op="ecard_login", token=event.text.strip(), library_id=config.library_id))
    return state, (Log("info", "ecard.scan", {"scheme": card.scheme, "card": mask(card.number)}), effect)


def ecard_answered(state: State, response: Response | None, config: CoreConfig) -> Step:
    """The hub's answer to an e-card login (None: it did not answer in time)."""
    if state.reader is None:
        return state, ()
    if response is None:
        state = session.end_session(state, config)
        return _refuse(state, "notice.ecard_needs_hub", {"reason": "unanswered"})
    code = response.reason_code or ""
    if response.ok and response.allowed is False and code.startswith(ECARD_REFUSALS_PREFIX):
        state = session.end_session(state, config)
        message = Text(response.message.zh, response.message.en) if response.message else None
        state = with_notice(state, "notice.ecard_refused", (("reason", code),), message)
        return state, (Beep("error"), Log("info", "ecard.refused", {"reason": code}))
    return session.lookup_answered(state, response, config)


def _refuse(state: State, key: str, fields: dict[str, object]) -> Step:
    return with_notice(state, key), (Beep("error"), Log("info", "ecard.refused", fields))
