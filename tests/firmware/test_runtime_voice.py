"""The kiosk's voice through the shell, with the real espeak-ng and a real player process:
a new screen is spoken; a player that is not installed is the fault `voice-player-missing`
on the technician's screen and the kiosk goes on serving; the repeat button plays the
last prompt again; the technician's voice buttons reach the player."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from contract.screens import Press
from firmware.assembly import build_voice, core_config_from
from firmware.config import load_config
from firmware.journal import Journal
from firmware.runtime import KioskRuntime
from tests.firmware.test_runtime_journal import RecordingDevices

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng: `make setup` installs it")


def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait (bounded) for the voice thread; the core's events are stepped meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the voice thread did nothing"
        time.sleep(0.01)


def kiosk_with_voice(tmp_path: Path, player: str, **voice: object) -> tuple[KioskRuntime, object]:
    overrides = {"voice.player": player, **{f"voice.{k}": v for k, v in voice.items()}}
    config = load_config(None, overrides)
    journal = Journal.open(tmp_path / "journal.sqlite3")
    runtime = KioskRuntime(core_config_from(config), RecordingDevices(), journal)  # type: ignore[arg-type]
    voice_player = build_voice(config, runtime, tmp_path / "journal.sqlite3").start()
    return runtime, voice_player


def drain(runtime: KioskRuntime) -> None:
    while not runtime.events.empty():
        runtime.handle(runtime.events.get_nowait())


def test_a_missing_player_is_a_fault_and_the_kiosk_keeps_serving(tmp_path: Path) -> None:
    runtime, player = kiosk_with_voice(tmp_path, "no-such-audio-player -q")
    try:
        runtime.handle(Press("return"))
        assert runtime.view.screen == "returns"
        until(lambda: not runtime.events.empty())
        drain(runtime)
        assert runtime.state.service.fault_of("voice") == "voice-player-missing"
        assert "voice:voice-player-missing" in runtime.state.service.recent_faults
        runtime.handle(Press("cancel"))  # still serving
        assert runtime.view.screen == "attract" and runtime.view.out_of_service_code is None
    finally:
        player.close()  # type: ignore[attr-defined]
        runtime.journal.close()


def test_the_repeat_button_plays_the_last_prompt_again(tmp_path: Path) -> None:
    log = tmp_path / "played.log"
    runtime, player = kiosk_with_voice(tmp_path, f"sh -c 'echo \"$0\" >> {log}'")
    try:
        runtime.handle(Press("return"))
        said = runtime.voice.last  # type: ignore[union-attr]
        assert said and all(lang == "zh" for lang, _ in said)

        def played() -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        until(lambda: len(played()) == len(said))
        runtime.handle(Press("repeat"))
        until(lambda: len(played()) == 2 * len(said))
        first, again = played()[: len(said)], played()[len(said) :]
        assert first == again and all(path.endswith(".wav") for path in first)
        assert runtime.view.screen == "returns"
        assert player.synth.renders == len(said)  # type: ignore[attr-defined]  # the cache, not a new render
    finally:
        player.close()  # type: ignore[attr-defined]
        runtime.journal.close()


def test_the_technicians_voice_buttons_reach_the_player(tmp_path: Path) -> None:
    runtime, player = kiosk_with_voice(tmp_path, "true", volume=60, enabled=False)
    try:
        speaker = runtime.voice
        assert speaker is not None and speaker.enabled is False  # type: ignore[attr-defined]
        runtime.state = replace(runtime.state, screen="technician")  # as after a staff card and PIN
        runtime.handle(Press("voice_toggle"))
        runtime.handle(Press("voice_louder"))
        tech = runtime.view.technician
        assert tech is not None and (tech.voice_enabled, tech.voice_volume) == (True, 70)
        assert speaker.enabled is True and player.volume == 70  # type: ignore[attr-defined]
    finally:
        player.close()  # type: ignore[attr-defined]
        runtime.journal.close()
