"""The kiosk's loudspeaker: spoken prompts rendered and played on a thread of their own.

What a caller may rely on:
- `say(utterance)` never blocks and never raises: it queues the utterance (a tuple of
  (language, text) parts, played in order) and returns. The UI and the core never wait
  for sound. At most `MAX_PENDING` utterances wait; a newer one pushes out the oldest
  still waiting (a reader who has moved on wants to hear the new screen, not the old).
- Each part is rendered by the synth (cached: `drivers.voice_synth`) and handed to the
  player command (`aplay -q FILE` by default; `paplay` where PulseAudio runs).
- A player that is not installed posts `DeviceFault("voice", "voice-player-missing")`, one
  that exits non-zero (no sound card, device busy) `voice-player-failed`, a synth that is
  missing or fails `voice-synth-missing` / `voice-synth-failed`. Each fault is posted
  once while it lasts; the next prompt that plays posts `DeviceRecovered("voice")`. The
  kiosk goes on serving either way: a silent kiosk is a fault for the technician, never
  out of service for a reader.
- An utterance plays at the `volume` set when it was queued; 0 plays (and renders) nothing.
"""

from __future__ import annotations

import collections
import logging
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import FAULT_HINTS
from drivers.events import DeviceFault, DeviceRecovered, Post
from drivers.voice_synth import EspeakSynth, VoiceError

log = logging.getLogger("drivers.voice_player")

Utterance = tuple[tuple[str, str], ...]  # ((language, text), ...)
MAX_PENDING = 2
PLAY_TIMEOUT_S = 60.0
DEVICE = "voice"


class VoicePlayer(ThreadedDevice):
    """Plays utterances through `player_command` + the WAV file's path."""

    def __init__(
        self,
        synth: EspeakSynth,
        post: Post,
        *,
        player_command: Sequence[str] = ("aplay", "-q"),
        volume: int = 60,
    ) -> None:
        super().__init__(thread_name="voice-player", join_timeout_s=2.0)
        self.synth = synth
        self.player_command = tuple(player_command)
        self.volume = volume
        self._post = post
        # (utterance, the volume when it was asked for)
        self._pending: collections.deque[tuple[Utterance, int]] = collections.deque(maxlen=MAX_PENDING)
        self._wakeup = threading.Condition()
        self._fault: str | None = None
        self.played: list[Path] = []  # files handed to the player, newest last (bounded)

    def say(self, utterance: Utterance) -> None:
        """Queue `utterance` to be played; returns at once."""
        if not utterance:
            return
        with self._wakeup:
            self._pending.append((utterance, self.volume))
            self._wakeup.notify()

    def _wake(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wakeup:
                while not self._pending and not self._stop.is_set():
                    self._wakeup.wait()
                if self._stop.is_set():
                    return
                utterance, volume = self._pending.popleft()
            self._play_utterance(utterance, volume)

    def _play_utterance(self, utterance: Utterance, volume: int) -> None:
        if volume <= 0:
            return
        for language, text in utterance:
            if self._stop.is_set():
                return
            try:
                self._play(self.synth.render(text, language, volume))
            except VoiceError as exc:
                self._report(exc.code, exc.detail)
                return
            except Exception as exc:  # a voice bug must never take the kiosk down
                log.exception("voice prompt crashed")
                self._report("voice-player-failed", str(exc))
                return
        self._report(None, "")

    def _play(self, path: Path) -> None:
        command = [*self.player_command, str(path)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=PLAY_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:
            raise VoiceError("voice-player-missing", f"{self.player_command[0]} not found") from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VoiceError("voice-player-failed", str(exc)) from exc
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()[:200]
            raise VoiceError("voice-player-failed", f"exit {done.returncode}: {detail}")
        self.played = [*self.played[-19:], path]

    def _report(self, code: str | None, detail: str) -> None:
        """Post a fault once while it lasts, and the recovery when a prompt plays again."""
        if code == self._fault:
            return
        self._fault = code
        if code is None:
            self._post(DeviceRecovered(DEVICE))
            return
        log.warning("voice prompt not played: %s (%s)", code, detail)
        self._post(DeviceFault(DEVICE, code, FAULT_HINTS.get(code, "")))
