"""Hub answers and timeouts, routed to the flow that asked.

An unanswered request (timeout, or the link went down) is handled as "offline" by the
same flow functions that handle answers, with `response=None`.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.core import borrow, returns, session
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Log
from firmware.core.events import HubAnswered, HubTimedOut, LinkChanged
from firmware.core.requests import take
from firmware.core.state import Pending, State
from hub.protocol import Response


def resolve(state: State, pending: Pending, response: Response | None, config: CoreConfig) -> Step:
    if pending.purpose == "lookup":
        if response is None:
            return session.lookup_unanswered(state, config)
        return session.lookup_answered(state, response, config)
    if pending.purpose == "pin":
        if response is None:
            return session.lookup_unanswered(state, config)
        return session.pin_answered(state, response, config)
    if pending.purpose == "route":
        return returns.route_answered(state, pending.line_n, response, config)
    return borrow.item_answered(state, pending.line_n, response, config)


def hub_answered(state: State, event: HubAnswered, config: CoreConfig) -> Step:
    state, pending = take(state, event.corr_id)
    if pending is None:
        return state, (Log("debug", "hub.late_answer", {"corr_id": event.corr_id}),)
    return resolve(replace(state, online=True), pending, event.response, config)


def hub_timed_out(state: State, event: HubTimedOut, config: CoreConfig) -> Step:
    state, pending = take(state, event.corr_id)
    if pending is None:
        return state, ()
    state = replace(state, online=False)
    state, effects = resolve(state, pending, None, config)
    return state, (Log("info", "hub.timeout", {"op": pending.purpose}), *effects)


def time_out_due(state: State, config: CoreConfig, everything: bool = False) -> Step:
    """Resolve requests older than request_timeout_s (or all of them) as unanswered."""
    effects: tuple = ()
    for pending in state.pending:
        overdue = state.now - pending.sent_at >= config.request_timeout_s
        if everything or overdue:
            state, more = hub_timed_out(state, HubTimedOut(pending.corr_id), config)
            effects += more
    return state, effects


def link_down(state: State, event: LinkChanged, config: CoreConfig) -> Step:
    """Don't leave the reader waiting for answers that cannot come."""
    state = replace(state, link="down", online=False)
    state, effects = time_out_due(state, config, everything=True)
    return state, (Log("warning", "link.down", {}), *effects)
