"""A fleet does not come back in lock-step (firmware/hub_link/connection.py, "Reconnects"):
every reconnect wait is drawn afresh, so kiosks that lost the broker at one moment (a
restart) or failed their handshakes at one moment (an overloaded broker) spread out
again, instead of arriving together every second as with paho's own backoff (one random
first wait, then a fixed 1 s)."""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time

from contract.broker_url import parse_broker_url
from firmware.hub_link.connection import (
    RECONNECT_MAX_S,
    RECONNECT_MIN_S,
    Connection,
    next_reconnect_wait,
)


def test_every_wait_is_drawn_afresh_within_its_bounds() -> None:
    rng = random.Random(7)
    first = [next_reconnect_wait(0, rng) for _ in range(500)]
    later = [next_reconnect_wait(n, rng) for n in range(1, 501)]
    assert all(RECONNECT_MIN_S <= w <= 2 * RECONNECT_MIN_S for w in first)
    assert all(0.5 * RECONNECT_MAX_S <= w <= 1.5 * RECONNECT_MAX_S for w in later)
    # about once a second on average while the route is down, spread over a whole second
    assert 0.9 < statistics.mean(later) < 1.1
    assert statistics.pstdev(later) > 0.25


class _SlammingBroker:
    """Accepts each TCP connection and closes it at once (a broker that cannot take the
    kiosk): the times of the kiosk's tries."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tries: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.tries.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_the_gaps_between_tries_vary_instead_of_settling_on_one_second() -> None:
    broker = _SlammingBroker()
    connection = Connection(
        parse_broker_url(f"mqtt://127.0.0.1:{broker.port}"), "kiosk-jitter", lambda _e: None,
        will=("alliance/v1/kiosk/jitter/state", b"{}"), subscriptions=["alliance/v1/kiosk/jitter/ack"],
    )  # fmt: skip
    connection.start()
    try:
        deadline = time.monotonic() + 12
        while len(broker.tries) < 9 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        connection.stop()
        broker.close()
    gaps = [b - a for a, b in zip(broker.tries[2:], broker.tries[3:], strict=False)]
    assert len(gaps) >= 5, broker.tries
    # paho's own backoff: every gap 1.0 s (stdev ~0.01); drawn afresh: 0.5-1.5 s
    assert statistics.pstdev(gaps) > 0.1, gaps
    assert all(0.4 < g < 1.7 for g in gaps), gaps
