"""Tick: time passes. Summary end, auto-logout, card left behind, notices fading.

Requests are not timed here: the hub link owns request timeouts and ends every request
with HubAnswered or HubTimedOut (firmware.core.answers)."""

from __future__ import annotations

from dataclasses import replace

from firmware.core import session
from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import Beep
from firmware.core.events import Tick
from firmware.core.policy import SESSION_SCREENS, idle_s
from firmware.core.state import State, clear_notice, with_notice, work_in_progress


def tick(state: State, event: Tick, config: CoreConfig) -> Step:
    state = _advance_clock(state, event)
    effects: tuple = ()
    if state.screen == "summary" and state.now - state.screen_since >= config.summary_s:
        state = session.end_session(state, config)
    elif (
        state.screen in SESSION_SCREENS
        and not work_in_progress(state)
        and idle_s(state) >= config.inactivity_logout_s
    ):
        state, more = session.auto_logout(state, config)
        effects += more
    if (
        state.card_left_since is not None
        and not state.card_left_warned
        and state.now - state.card_left_since >= config.card_left_warn_s
    ):
        state = replace(with_notice(state, "notice.take_your_card"), card_left_warned=True)
        effects += (Beep("warn"),)
    elif (state.notice is not None or state.hub_message is not None) and (
        state.now - state.notice_at >= config.notice_s
    ):
        state = clear_notice(state)
    return state, effects


def _advance_clock(state: State, event: Tick) -> State:
    """Move `now`. Before the first Tick the core's clock stood at 0: timestamps taken
    then are moved to the first tick's time, so nothing times out at once."""
    wall = event.wall or state.wall
    if not state.clock_started:
        now = event.now
        return replace(
            state,
            now=now,
            wall=wall,
            clock_started=True,
            last_input_at=now,
            screen_since=now,
            notice_at=now,
            card_left_since=now if state.card_left_since is not None else None,
        )
    return replace(state, now=max(event.now, state.now), wall=wall)

