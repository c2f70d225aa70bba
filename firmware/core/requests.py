"""Requests to the hub: correlation ids from the state's counter, pending bookkeeping.

A request leaves `pending` exactly once — by its answer (HubAnswered), its timeout
(HubTimedOut, decided by the hub link, never by the core), the link going down, or the
end of its session — so a late answer or a duplicate timeout can never act twice.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.core.effects import HubRequest, SendRequest
from firmware.core.state import Pending, Purpose, State, next_id

SESSION_PURPOSES: frozenset[str] = frozenset({"lookup", "pin", "ecard", "checkout", "renew"})


def send(
    state: State, purpose: Purpose, request: HubRequest, subject: str = "", line_n: int = 0
) -> tuple[State, SendRequest]:
    state, n = next_id(state)
    corr_id = f"r{n}"
    pending = Pending(corr_id, purpose, subject, line_n)
    return replace(state, pending=(*state.pending, pending)), SendRequest(corr_id, request)


def take(state: State, corr_id: str) -> tuple[State, Pending | None]:
    """Remove and return the pending request with this id (None if unknown or gone)."""
    found = next((p for p in state.pending if p.corr_id == corr_id), None)
    if found is None:
        return state, None
    return replace(state, pending=tuple(p for p in state.pending if p is not found)), found


def waiting_for(state: State, *purposes: str) -> bool:
    return any(p.purpose in purposes for p in state.pending)


def drop_session_requests(state: State) -> State:
    """Forget the session's requests (their answers will be ignored); returns stay."""
    return replace(
        state, pending=tuple(p for p in state.pending if p.purpose not in SESSION_PURPOSES)
    )


def link_is_down(state: State) -> bool:
    """The link is known to be down: don't wait for a timeout, decide offline now."""
    return state.broker_link == "down"
