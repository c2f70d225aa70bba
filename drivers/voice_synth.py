"""Spoken prompts rendered to WAV files by espeak-ng, once per text, kept in a cache.

What a caller may rely on:
- `render(text, language, volume)` returns a WAV file that says `text`. The file is named
  by a hash of everything that shapes the sound (engine, voice, speed, amplitude, the
  text after the pronunciation fixes), so the same prompt is synthesised once and read
  from the cache ever after, across restarts; a change of voice or volume is a new file.
- A file appears in the cache whole or not at all (written beside it, then renamed), so
  a power cut mid-render never leaves a half prompt to be played later.
- The cache holds at most `max_files` prompts (about 200 KB each): past that the oldest
  rendered go, so prompts that name a refused book's title (each heard about once) do not
  fill the SD card. The fixed prompts are 58 per language and volume.
- Failures are `VoiceError`s carrying a stable fault code (docs/fault-codes.md):
  `voice-synth-missing` (espeak-ng is not installed), `voice-synth-failed` (it ran and
  failed, or wrote nothing).

Why pronunciation fixes: espeak-ng's Mandarin voice (`cmn-latn-pinyin`; plain `cmn`
reads many characters as pinyin with tone digits) reads 还 as hái everywhere, even in
归还 and 还书, where it means "return" (huán). Prompts are written in plain Chinese; the
fixes below spell that 还 in pinyin for espeak only (`huan2`), so the words on screen and
in the prompt tables stay the catalogue's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

# espeak-ng voices by screen language.
DEFAULT_VOICES: MappingProxyType[str, str] = MappingProxyType({"zh": "cmn-latn-pinyin", "en": "en"})

# Mandarin words espeak-ng misreads, and what it is given instead (see the docstring).
ZH_PRONUNCIATION_FIXES: tuple[tuple[str, str], ...] = (
    ("归还", "归huan2"),
    ("还书", "huan2书"),
    ("借还", "借huan2"),
)

RENDER_TIMEOUT_S = 20.0


class VoiceError(RuntimeError):
    """A prompt could not be rendered or played; `code` is its fault code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def speakable(text: str, language: str) -> str:
    """`text` as espeak-ng is given it: the Mandarin fixes applied for Chinese."""
    if language != "zh":
        return text
    for written, spoken in ZH_PRONUNCIATION_FIXES:
        text = text.replace(written, spoken)
    return text


def amplitude_for(volume: int) -> int:
    """espeak-ng's amplitude (-a, 0-200, its default 100) for a volume of 0-100."""
    return max(0, min(100, volume)) * 2


@dataclass
class EspeakSynth:
    """Renders prompts with espeak-ng into `cache_dir` (created on first render)."""

    cache_dir: Path
    executable: str = "espeak-ng"
    voices: MappingProxyType[str, str] = field(default_factory=lambda: DEFAULT_VOICES)
    speed_wpm: int = 150
    max_files: int = 400
    renders: int = field(default=0, init=False)  # how many times espeak-ng really ran

    def cache_key(self, text: str, language: str, volume: int) -> str:
        settings = {
            "engine": Path(self.executable).name,
            "voice": self.voices.get(language, self.voices["en"]),
            "speed": self.speed_wpm,
            "amplitude": amplitude_for(volume),
            "text": speakable(text, language),
        }
        blob = json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def render(self, text: str, language: str, volume: int) -> Path:
        """The WAV file for `text` in `language` at `volume`, rendered if not cached."""
        path = self.cache_dir / f"{self.cache_key(text, language, volume)}.wav"
        if path.is_file() and path.stat().st_size > 44:
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        voice = self.voices.get(language, self.voices["en"])
        command = [
            self.executable, "-v", voice, "-s", str(self.speed_wpm),
            "-a", str(amplitude_for(volume)), "-w", str(partial), "--", speakable(text, language),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:
            raise VoiceError("voice-synth-missing", f"{self.executable} not found") from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            partial.unlink(missing_ok=True)
            raise VoiceError("voice-synth-failed", str(exc)) from exc
        self.renders += 1
        if done.returncode != 0 or not partial.is_file() or partial.stat().st_size <= 44:
            partial.unlink(missing_ok=True)
            detail = done.stderr.decode(errors="replace").strip()[:200]
            raise VoiceError("voice-synth-failed", f"exit {done.returncode}: {detail}")
        partial.replace(path)
        self._evict_oldest(keep=path)
        return path

    def _evict_oldest(self, keep: Path) -> None:
        files = sorted(self.cache_dir.glob("*.wav"), key=lambda p: p.stat().st_mtime_ns)
        for old in files[: max(0, len(files) - self.max_files)]:
            if old != keep:
                old.unlink(missing_ok=True)
