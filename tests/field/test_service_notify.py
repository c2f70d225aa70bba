"""The sd_notify protocol against a real Unix datagram socket, as systemd plays it."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from firmware.service_notify import ServiceNotifier
from tests.field.conftest import NotifySocket

ROOT = Path(__file__).resolve().parents[2]


def test_without_notify_socket_every_send_is_a_silent_no_op() -> None:
    notifier = ServiceNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.watchdog() is False
    assert notifier.watchdog_s is None


def test_messages_reach_a_path_socket(notify_socket: NotifySocket) -> None:
    notifier = ServiceNotifier({"NOTIFY_SOCKET": notify_socket.path})
    assert notifier.ready("screen=attract") and notifier.watchdog()
    notifier.close()
    got = [text for _, text in notify_socket.collect(0.3)]
    assert got == ["READY=1\nSTATUS=screen=attract", "WATCHDOG=1"]


def test_an_at_sign_names_an_abstract_socket() -> None:
    name = f"alliance-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert ServiceNotifier({"NOTIFY_SOCKET": "@" + name}).status("screen=home")
        assert sock.recv(100) == b"STATUS=screen=home"
    finally:
        sock.close()


def test_a_vanished_socket_is_not_the_kiosks_problem(tmp_path: Path) -> None:
    assert ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).watchdog() is False


def test_the_watchdog_period_is_read_for_this_process_only() -> None:
    mine = {"WATCHDOG_USEC": "8000000", "WATCHDOG_PID": str(os.getpid())}
    assert ServiceNotifier(mine).watchdog_s == 8.0
    assert ServiceNotifier({"WATCHDOG_USEC": "8000000", "WATCHDOG_PID": "1"}).watchdog_s is None
    assert ServiceNotifier({"WATCHDOG_USEC": "0"}).watchdog_s is None


def test_a_real_kiosk_says_ready_pings_at_half_the_period_and_shows_its_status(
    notify_socket: NotifySocket, tmp_path: Path
) -> None:
    """`python -m kiosk_tools --sim --headless` as systemd starts it: READY=1 within 5 s,
    WATCHDOG=1 every WATCHDOG_USEC/2, STATUS= with screen, link and queue, STOPPING=1
    on SIGTERM."""
    env = dict(os.environ, NOTIFY_SOCKET=notify_socket.path, WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    started = time.monotonic()
    kiosk = subprocess.Popen(
        [
            sys.executable, "-m", "kiosk_tools", "--sim", "--headless",
            "--journal", str(tmp_path / "journal.sqlite3"),
            "--broker", "mqtt://127.0.0.1:9",  # nobody there: the link stays offline
        ],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        ready_at = notify_socket.wait_for("READY=1", timeout=5.0)
        assert ready_at - started < 5.0
        notify_socket.collect(3.2)
        pings = [at for at, _ in notify_socket.lines("WATCHDOG=1")]
        assert len(pings) >= 5, notify_socket.received
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert all(0.3 < gap < 0.8 for gap in gaps), gaps
        statuses = [line for _, line in notify_socket.lines("STATUS=")]
        assert "STATUS=screen=attract link=offline queued=0" in statuses, statuses
        kiosk.send_signal(signal.SIGTERM)
        notify_socket.wait_for("STOPPING=1", timeout=10)
        assert kiosk.wait(timeout=15) == 0
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
        _, err = kiosk.communicate(timeout=10)
    assert "Traceback" not in err, err
