"""The core's part of the voice: "repeat" asks the shell to say the last prompt again on
any screen, keeping the notice it repeats; the technician's voice buttons switch prompts
and step their volume within 0-100."""

from __future__ import annotations

from dataclasses import replace

from contract.screens import Press
from firmware.core.config import CoreConfig
from firmware.core.effects import RepeatPrompt, SetVoice
from firmware.core.machine import initial_state, render, step
from firmware.core.state import with_notice

CONFIG = CoreConfig()


def test_repeat_asks_for_the_prompt_again_and_keeps_the_notice() -> None:
    state = with_notice(initial_state(CONFIG), "notice.tap_card_first")
    state, effects = step(state, Press("repeat"), CONFIG)
    assert RepeatPrompt() in effects
    assert render(state, CONFIG).notice == "notice.tap_card_first"


def test_repeat_works_while_out_of_service() -> None:
    state = initial_state(CONFIG)
    state = replace(state, service=replace(state.service, chute_jammed=True))
    assert render(state, CONFIG).screen == "out_of_service"
    _, effects = step(state, Press("repeat"), CONFIG)
    assert RepeatPrompt() in effects


def test_the_voice_starts_as_configured() -> None:
    tech = replace(initial_state(CoreConfig(voice_enabled=False, voice_volume=30)), screen="technician")
    view = render(tech, CONFIG).technician
    assert view is not None and (view.voice_enabled, view.voice_volume) == (False, 30)


def test_the_technician_switches_the_voice_and_steps_its_volume_within_0_to_100() -> None:
    state = replace(initial_state(CoreConfig(voice_volume=90)), screen="technician")
    state, effects = step(state, Press("voice_toggle"), CONFIG)
    assert SetVoice(False, 90) in effects
    for _ in range(3):
        state, effects = step(state, Press("voice_louder"), CONFIG)
    assert SetVoice(False, 100) in effects
    for _ in range(12):
        state, effects = step(state, Press("voice_quieter"), CONFIG)
    assert SetVoice(False, 0) in effects
    tech = render(state, CONFIG).technician
    assert tech is not None and (tech.voice_enabled, tech.voice_volume) == (False, 0)


def test_readers_cannot_change_the_voice() -> None:
    state = replace(initial_state(CONFIG), screen="borrow")
    after, effects = step(state, Press("voice_toggle"), CONFIG)
    assert not any(isinstance(e, SetVoice) for e in effects) and after.service == state.service
