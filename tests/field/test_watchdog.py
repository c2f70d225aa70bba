"""A hung worker stops the watchdog: heartbeats from every worker of a real kiosk, a
real notify socket, and threads that are made to hang the way they would in the field
(an SPI transfer that never returns, a view listener that deadlocks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.config import load_config
from firmware.core.events import LinkChanged
from firmware.heartbeats import HeartbeatRegistry, ServiceWatchdog
from firmware.service_notify import ServiceNotifier
from firmware.supervision import supervise
from kiosk_tools.simulated import build_simulated_kiosk
from tests.field.conftest import NotifySocket


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Recorder(ServiceNotifier):
    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[str] = []

    def send(self, *lines: str) -> bool:
        self.sent.extend(lines)
        return True


def test_a_worker_is_stale_only_after_its_own_bound() -> None:
    clock = _Clock()
    registry = HeartbeatRegistry(clock)
    reader = registry.register("card_reader", stale_after_s=2)
    registry.register("hub-link", stale_after_s=10)
    clock.now += 5
    assert registry.stale() == ["card_reader"]
    reader.beat()
    assert registry.stale() == []


def test_status_names_the_stale_worker_once_and_clears_when_it_beats_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    registry = HeartbeatRegistry(clock)
    scanner = registry.register("scanner", stale_after_s=1)
    notifier = _Recorder()
    watchdog = ServiceWatchdog(notifier, registry, lambda: "screen=home link=online queued=0")
    watchdog.check()
    clock.now += 2
    watchdog.check()
    watchdog.check()
    scanner.beat()
    watchdog.check()
    assert notifier.sent == [
        "STATUS=screen=home link=online queued=0",
        "STATUS=screen=home link=online queued=0 stale=scanner",
        "STATUS=screen=home link=online queued=0",
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["worker scanner has stopped beating: systemd's watchdog will restart the kiosk"]


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Any]:
    config = load_config(None, {"hub.broker": "mqtt://127.0.0.1:9"})
    kiosk = build_simulated_kiosk(config, journal_path=tmp_path / "journal.sqlite3")
    kiosk.start()
    yield kiosk
    kiosk.stop()


def _supervised(kiosk: Any, notify_socket: NotifySocket) -> Any:
    notifier = ServiceNotifier({"NOTIFY_SOCKET": notify_socket.path})
    return supervise(kiosk, notifier, ping_every_s=0.2, status_every_s=0.1, stale_after_s=1.0)


def test_every_worker_of_the_kiosk_is_watched(kiosk: Any, notify_socket: NotifySocket) -> None:
    supervision = _supervised(kiosk, notify_socket)
    try:
        assert set(supervision.registry.names) == {
            "kiosk-core", "card_reader", "scanner", "chute_scanner", "hub-link"
        }
        notify_socket.collect(2.5)  # longer than stale_after_s: all of them really beat
        assert supervision.registry.stale() == []
        assert len(notify_socket.lines("WATCHDOG=1")) >= 10
    finally:
        supervision.stop()


def test_a_hung_card_poller_stops_the_watchdog_and_is_named(
    kiosk: Any, notify_socket: NotifySocket
) -> None:
    supervision = _supervised(kiosk, notify_socket)
    chip = kiosk.runtime.devices.card_reader.chip
    release = threading.Event()
    real_spi = chip.spi

    class StuckSpi:  # an SPI transfer that never returns, until the test lets go
        def xfer2(self, data: list[int]) -> list[int]:
            release.wait()
            return real_spi.xfer2(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(real_spi, name)

    try:
        supervision.ready()
        notify_socket.wait_for("READY=1", timeout=2)
        notify_socket.collect(0.6)
        assert notify_socket.lines("WATCHDOG=1"), "pings before the hang"
        chip.spi = StuckSpi()
        hung_at = notify_socket.wait_for(
            "STATUS=screen=attract link=offline queued=0 stale=card_reader", timeout=5
        )
        notify_socket.collect(1.5)
        late = [at for at, _ in notify_socket.lines("WATCHDOG=1") if at > hung_at]
        assert late == [], "no WATCHDOG=1 while the card poller hangs"
        release.set()
        chip.spi = real_spi
        notify_socket.wait_for("STATUS=screen=attract link=offline queued=0", timeout=5)
        notify_socket.wait_for("WATCHDOG=1", timeout=2)  # it beats again: pings resume
    finally:
        release.set()
        chip.spi = real_spi
        supervision.stop()


def test_a_deadlocked_event_loop_stops_the_watchdog_and_is_named(
    kiosk: Any, notify_socket: NotifySocket
) -> None:
    supervision = _supervised(kiosk, notify_socket)
    release = threading.Event()
    kiosk.runtime.on_view(lambda _view: release.wait())  # a listener that never returns
    try:
        notify_socket.collect(0.5)
        kiosk.runtime.post(LinkChanged(True))  # the view changes: the core calls the listener
        hung_at = notify_socket.wait_for(
            "STATUS=screen=attract link=online queued=0 stale=kiosk-core", timeout=5
        )
        notify_socket.collect(1.5)
        assert [at for at, _ in notify_socket.lines("WATCHDOG=1") if at > hung_at] == []
    finally:
        release.set()
        supervision.stop()
