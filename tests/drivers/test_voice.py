"""The loudspeaker: every prompt really renders with espeak-ng to audio that is not
silent (sox measures it), each text once; Mandarin 还 (return) is given to espeak as
huan2; a missing or failing player or synth is a fault code posted once, never a crash."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.events import DeviceFault, DeviceRecovered
from drivers.voice_player import VoicePlayer
from drivers.voice_synth import EspeakSynth, VoiceError, speakable
from firmware.core.catalogue_keys import LOCAL_REASONS
from firmware.voice_prompts import _REFUSED, NOTICE_PROMPTS, RETURNS_ONLY_PROMPT, SCREEN_PROMPTS

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are Debian packages `make setup` installs (scripts/setup_system.sh)",
)

RMS_FLOOR_DB = -35.0  # espeak-ng speech at volume 60 measures about -20 dB; silence is -inf
ALL_PROMPTS = [*SCREEN_PROMPTS.values(), RETURNS_ONLY_PROMPT, *NOTICE_PROMPTS.values(), *LOCAL_REASONS.values()]


def sox_stats(path: Path) -> dict[str, float]:
    done = subprocess.run(["sox", str(path), "-n", "stats"], capture_output=True, text=True, check=True)
    stats = {}
    for line in done.stderr.splitlines():
        match = re.match(r"(RMS lev dB|Length s)\s+(\S+)", line)
        if match:
            stats[match.group(1)] = float(match.group(2))
    return stats


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> EspeakSynth:
    return EspeakSynth(tmp_path_factory.mktemp("voice"))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_prompt_renders_to_audio_that_is_not_silent(synth: EspeakSynth, language: str) -> None:
    texts = [getattr(p, language) for p in ALL_PROMPTS] + [getattr(_REFUSED, language).format(book="X")]
    quiet = {}
    for text in texts:
        path = synth.render(text, language, 60)
        assert path.read_bytes()[:4] == b"RIFF"
        stats = sox_stats(path)
        if not (stats["RMS lev dB"] > RMS_FLOOR_DB and stats["Length s"] > 0.3):
            quiet[text] = stats
    assert quiet == {}


def test_a_text_is_rendered_once_and_then_read_from_the_cache(tmp_path: Path) -> None:
    synth = EspeakSynth(tmp_path)
    first = synth.render("请刷读者卡", "zh", 60)
    made = first.stat().st_mtime_ns
    again = synth.render("请刷读者卡", "zh", 60)
    assert (again, synth.renders, again.stat().st_mtime_ns) == (first, 1, made)
    # a restart finds the same file
    assert EspeakSynth(tmp_path).render("请刷读者卡", "zh", 60) == first
    louder = synth.render("请刷读者卡", "zh", 80)  # another setting: another file
    assert louder != first and synth.renders == 2
    assert sox_stats(louder)["RMS lev dB"] > sox_stats(first)["RMS lev dB"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, louder.name])  # no .part left


def test_the_cache_keeps_at_most_max_files_the_oldest_go_first(tmp_path: Path) -> None:
    synth = EspeakSynth(tmp_path, max_files=2)
    first, second, third = (synth.render(f"第{n}本", "zh", 60) for n in (1, 2, 3))
    assert sorted(tmp_path.iterdir()) == sorted([second, third])
    assert not first.exists()


def test_return_is_given_to_espeak_as_huan2_because_it_reads_hai_even_in_guihuan() -> None:
    def phonemes(text: str) -> str:
        done = subprocess.run(
            ["espeak-ng", "-q", "-x", "-v", "cmn-latn-pinyin", text], capture_output=True, text=True, check=True
        )
        return done.stdout

    assert "X'ai" in phonemes("请归还图书")  # espeak-ng's misreading (hái), as found
    for text in ("请于4月12日前归还", "请把书放入还书口", "到服务台借还书"):
        spoken = phonemes(speakable(text, "zh"))
        assert "X'ua35n" in spoken and "X'ai" not in spoken, (text, spoken)
    assert "X'ai" in phonemes(speakable("还可以借2本", "zh"))  # 还 "still" stays hái


def test_a_missing_synth_is_its_fault_code(tmp_path: Path) -> None:
    with pytest.raises(VoiceError) as missing:
        EspeakSynth(tmp_path, executable="no-such-espeak").render("你好", "zh", 60)
    assert missing.value.code == "voice-synth-missing"
    with pytest.raises(VoiceError) as failed:
        EspeakSynth(tmp_path, executable="false").render("你好", "zh", 60)
    assert failed.value.code == "voice-synth-failed"
    assert list(tmp_path.iterdir()) == []


def _player(tmp_path: Path, command: tuple[str, ...], events: queue.Queue[object]) -> VoicePlayer:
    return VoicePlayer(EspeakSynth(tmp_path / "cache"), events.put, player_command=command).start()


def test_a_missing_player_is_a_fault_posted_once_and_a_working_one_recovers(tmp_path: Path) -> None:
    events: queue.Queue[object] = queue.Queue()
    player = _player(tmp_path, ("no-such-player",), events)
    try:
        player.say((("zh", "请刷读者卡"),))
        fault = events.get(timeout=30)
        assert isinstance(fault, DeviceFault)
        assert (fault.device, fault.code) == ("voice", "voice-player-missing") and "aplay" in fault.hint
        player.say((("en", "Tap your card"),))
        player.player_command = ("false",)
        player.say((("en", "Tap your card"),))
        failed = events.get(timeout=30)
        assert isinstance(failed, DeviceFault) and failed.code == "voice-player-failed"
        player.player_command = ("true",)
        player.say((("en", "Tap your card"),))
        assert events.get(timeout=30) == DeviceRecovered("voice")
        assert player.played[-1].suffix == ".wav"
    finally:
        player.close()
    assert events.empty()  # each fault once: the second missing-player prompt posted nothing


def test_volume_zero_renders_and_plays_nothing(tmp_path: Path) -> None:
    events: queue.Queue[object] = queue.Queue()
    log = tmp_path / "played.log"
    player = _player(tmp_path, ("sh", "-c", f'echo "$0" >> {log}'), events)
    try:
        player.volume = 0
        player.say((("zh", "静音"),))
        player.volume = 60
        player.say((("zh", "有声"),))
        until(lambda: log.exists())
    finally:
        player.close()
    assert len(log.read_text().splitlines()) == 1 and player.synth.renders == 1


def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait (bounded) for the player thread to have done something."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the player thread did nothing"
        time.sleep(0.01)
