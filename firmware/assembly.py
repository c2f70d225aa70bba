"""Builds a kiosk from its config: journal, devices (on a Pi's transports or the
simulator's: nothing else differs), hub link and the shell, in the order they must
start and stop."""

from __future__ import annotations

import queue
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.members import institution_members
from contract.signing import load_public_key
from drivers.transports import DeviceTransports
from drivers.voice_player import VoicePlayer
from drivers.voice_synth import EspeakSynth
from firmware.config import KioskConfig
from firmware.core.config import CoreConfig
from firmware.devices import build_devices
from firmware.health import running_version
from firmware.hub_link import HubLink, TlsFiles
from firmware.journal import Journal
from firmware.runtime import KioskRuntime
from firmware.speaker import Speaker


def core_config_from(config: KioskConfig) -> CoreConfig:
    """The core's view of the config, plus the institution → member map for routing
    returns while offline (the alliance's member list ships with the firmware)."""
    institutions = institution_members()
    t = config.timeouts
    return CoreConfig(
        kiosk_id=config.kiosk.id,
        library_id=config.kiosk.library_id,
        profile=config.kiosk.profile,
        default_language=config.kiosk.default_language,
        large_text=config.kiosk.large_text,
        inactivity_warn_s=t.inactivity_warn_s,
        inactivity_logout_s=t.inactivity_logout_s,
        summary_s=t.summary_s,
        card_left_warn_s=t.card_left_warn_s,
        offline_loans_allowed=config.offline.loans_allowed,
        offline_max_items=config.offline.max_items,
        offline_loan_days=config.offline.loan_days,
        institution_members=institutions,
        security=config.security.kind != "none",
        tag_data_model=config.rfid.data_model,
        tag_security=tag_security_fitted(config),
        voice_enabled=config.voice.enabled,
        voice_volume=config.voice.volume,
    )


def tag_security_fitted(config: KioskConfig) -> bool:
    """Tags are switched when the library's tags carry security ([rfid] security) and an
    RFID reader is fitted to write them (the pad or the chute's)."""
    readers = (config.devices.rfid_pad.kind, config.devices.chute_rfid.kind)
    return config.rfid.security != "none" and any(kind != "none" for kind in readers)


@dataclass
class Kiosk:
    """A running kiosk: `start()` brings it up, `stop()` takes it down cleanly."""

    runtime: KioskRuntime
    link: HubLink
    journal: Journal
    rig: Any = None  # the simulated world's handles (hal_sim.rig.SimRig) under --sim
    voice: VoicePlayer | None = None  # the loudspeaker's thread


    def start(self, ready_timeout_s: float = 5.0) -> Kiosk:
        self.runtime.start()
        if self.voice is not None:
            self.voice.start()
        self.runtime.devices.start()
        self.runtime.devices.wait_ready(ready_timeout_s)
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()
        self.runtime.stop()
        if self.voice is not None:
            self.voice.close()
        self.runtime.devices.close()
        self.journal.close()


def build_kiosk(
    config: KioskConfig,
    transports: DeviceTransports | None = None,
    *,
    journal_path: Path | None = None,
    rig: Any = None,
) -> Kiosk:
    """Everything of one kiosk, not yet started. The devices are built by
    `build_devices` on `transports` (default: the Pi's, named in the config); the kiosk
    owns them from here on, even if building fails."""
    events: queue.Queue[object] = queue.Queue()
    path = journal_path or config.journal.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(path)
    except BaseException:
        if transports is not None:
            transports.close()
        raise
    try:
        if transports is None:
            from firmware.hardware import pi_transports

            transports = pi_transports(config)
        devices = build_devices(config, transports, events.put)
    except BaseException:
        journal.close()
        raise
    runtime = KioskRuntime(
        core_config_from(config),
        devices,
        journal,
        # Only queues the job: the printer's own thread prints, and a printer fault
        # never holds up the session (the reader has the QR code on screen anyway).
        receipt_printer=devices.printer.print_receipt if devices.printer is not None else None,
        wall=lambda: datetime.now(config.kiosk.timezone),
        events=events,
    )
    tls = config.hub.tls
    hub_key = (
        load_public_key(config.hub.hub_public_key) if config.hub.hub_public_key else None
    )  # checked at config load already: a bad file never gets this far

    link = HubLink(
        config.hub.broker,
        config.kiosk.id,
        config.kiosk.library_id,
        runtime.post,
        firmware_version=running_version(),
        username=config.hub.username,
        password=config.hub_password(),
        tls=TlsFiles(ca=tls.ca, cert=tls.cert, key=tls.key),
        request_timeout_s=config.hub.request_timeout_s,
        telemetry_interval_s=config.hub.telemetry_interval_s,
        telemetry=runtime.telemetry,
        journal=journal,
        keep_acked_s=config.journal.prune_acked_after_days * 86400,
        hub_public_key=hub_key,
        pins_over_plain=config.hub.pins_over_plain,
        keepalive_s=config.hub.keepalive_s,
    )
    runtime.link = link
    player = build_voice(config, runtime, path)
    return Kiosk(runtime=runtime, link=link, journal=journal, rig=rig, voice=player)


def build_voice(config: KioskConfig, runtime: KioskRuntime, journal_path: Path) -> VoicePlayer:
    """The loudspeaker ([voice]): a player thread, and the speaker that hears each view.
    Built even when prompts are off, so the technician can switch them on."""
    voice = config.voice
    synth = EspeakSynth(voice.cache_path(journal_path), executable=voice.synth)
    player = VoicePlayer(synth, runtime.post, player_command=shlex.split(voice.player), volume=voice.volume)
    speaker = Speaker(player, enabled=voice.enabled, language=voice.language)
    speaker.start_from(runtime.view)
    runtime.voice = speaker
    runtime.on_view(speaker.show)
    return player
