"""The kiosk's voice in the shell: hears every new KioskView and says what changed.

The runtime calls `show(view)` for each view it publishes (a view listener, like the UI)
and `repeat()` / `configure()` when the core asks for them (`RepeatPrompt`, `SetVoice`
effects). What to say is `firmware.voice_prompts`'s rule; rendering and playing is the
`drivers.voice_player` thread's, so nothing here waits for sound.

What a caller may rely on: `show`, `repeat` and `configure` return at once and never
raise; `repeat()` plays the last utterance again (also when prompts were switched off
after it was said, but not while they are off); `last` is that utterance.
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol

from firmware.view import KioskView, Text
from firmware.voice_prompts import prompts_between

Utterance = tuple[tuple[str, str], ...]
LanguageRule = Literal["screen", "zh", "en", "both"]


class Player(Protocol):
    """What the speaker needs of the player (drivers.voice_player.VoicePlayer)."""

    volume: int

    def say(self, utterance: Utterance) -> None: ...


class Speaker:
    """Decides when to speak and in which language; `player` does the speaking."""

    def __init__(
        self, player: Player, *, enabled: bool = True, language: LanguageRule = "screen"
    ) -> None:
        self.player = player
        self.enabled = enabled
        self.language = language
        self.last: Utterance = ()
        self._shown: KioskView | None = None
        self._lock = threading.Lock()

    def start_from(self, view: KioskView) -> None:
        """The view already on screen when the kiosk starts: not announced."""
        with self._lock:
            self._shown = view

    def show(self, view: KioskView) -> None:
        """A new view: say its changes (nothing when they say nothing new)."""
        with self._lock:
            before, self._shown = self._shown, view
            texts = prompts_between(before, view)
            if not texts:
                return
            utterance = self._in_languages(texts, view.language)
            self.last = utterance
            enabled = self.enabled
        if enabled:
            self.player.say(utterance)

    def repeat(self) -> None:
        with self._lock:
            utterance, enabled = self.last, self.enabled
        if enabled and utterance:
            self.player.say(utterance)

    def configure(self, enabled: bool, volume: int) -> None:
        with self._lock:
            self.enabled = enabled
            self.player.volume = max(0, min(100, volume))

    def _in_languages(self, texts: tuple[Text, ...], screen_language: str) -> Utterance:
        """One part per text and language: a screen's prompt is one cached file however
        many notices follow it, not a new file for each combination."""
        rule = self.language
        languages = ("zh", "en") if rule == "both" else (screen_language if rule == "screen" else rule,)
        return tuple((lang, text.in_language(lang)) for lang in languages for text in texts)
