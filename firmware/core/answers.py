"""Hub answers and timeouts, routed to the flow that asked.

An unanswered request is handled as "offline" by the same flow functions that handle
answers, with `response=None`. The core never decides on its own that an answer is
overdue: a request is resolved only by HubAnswered, by HubTimedOut (the hub link owns
the timeout), by the link going down, or by the end of its session.
"""

from __future__ import annotations

from dataclasses import replace

from contract.messages import Response
from firmware.core import borrow, ecard, returns, session
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Log
from firmware.core.events import HubAnswered, HubTimedOut, LinkChanged
from firmware.core.requests import take
from firmware.core.state import Pending, State


def resolve(state: State, pending: Pending, response: Response | None, config: CoreConfig) -> Step:
    if pending.purpose == "lookup":
        if response is None:
            return session.lookup_unanswered(state, config)
        return session.lookup_answered(state, response, config)
    if pending.purpose == "pin":
        if response is None:
            return session.lookup_unanswered(state, config)
        return session.pin_answered(state, response, config)
    if pending.purpose == "ecard":
        return ecard.ecard_answered(state, response, config)
    if pending.purpose == "route":
        return returns.route_answered(state, pending.line_n, response, config)
    return borrow.item_answered(state, pending.line_n, response, config)


def hub_answered(state: State, event: HubAnswered, config: CoreConfig) -> Step:
    state, pending = take(state, event.corr_id)
    if pending is None:
        return state, (Log("debug", "hub.late_answer", {"corr_id": event.corr_id}),)
    return resolve(replace(state, hub_answering=True), pending, event.response, config)


def hub_timed_out(state: State, event: HubTimedOut, config: CoreConfig) -> Step:
    state, pending = take(state, event.corr_id)
    if pending is None:
        return state, ()
    state = replace(state, hub_answering=False)
    state, effects = resolve(state, pending, None, config)
    return state, (Log("info", "hub.timeout", {"op": pending.purpose}), *effects)


def link_went_down(state: State, event: LinkChanged, config: CoreConfig) -> Step:
    """Don't leave the reader waiting for answers that cannot come: every pending
    request is resolved as unanswered now."""
    state = replace(state, broker_link="down", hub_answering=False)
    effects: tuple = ()
    for pending in state.pending:
        state, more = hub_timed_out(state, HubTimedOut(pending.corr_id), config)
        effects += more
    return state, (Log("warning", "link.down", {}), *effects)
