"""The pool: connections reused, a down system failing fast during backoff, and the
pool reconnecting by itself when the ILS is back."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from hub.sip2.client import Sip2Pool, Sip2Unavailable
from tests.hub.sip2.conftest import system_for


def test_connections_are_reused(start_ils, library) -> None:
    ils = start_ils()
    pool = Sip2Pool(system_for(ils.port), size=2)
    for _ in range(3):
        with pool.client() as c:
            assert c.sc_status().online
    pool.close()
    assert [mid for mid, _ in library.seen].count("93") == 1
    assert pool.state().up is True and pool.state().last_error is None


def test_at_most_size_connections_and_a_busy_pool_waits(start_ils, library) -> None:
    ils = start_ils()
    pool = Sip2Pool(system_for(ils.port, timeout_s=0.3), size=1)
    with pool.client(), pytest.raises(Sip2Unavailable, match="all 1 connections busy"), \
            pool.client():
        pass
    pool.close()


def _waiting_in_the_pool(thread: threading.Thread) -> bool:
    """True while `thread` is blocked in the pool's wait for a connection (its stack)."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "_take" in names and "wait" in names


def test_a_second_borrower_of_a_busy_pool_waits_until_the_first_gives_back(start_ils, library) -> None:
    """Observed, not timed: the second borrower is seen blocked inside the pool while the
    first holds the only connection, and gets that same connection (one login) once the
    first gives it back, woken at once (its own wait would last 30 s)."""
    ils = start_ils()
    pool = Sip2Pool(system_for(ils.port, timeout_s=30.0), size=1)
    order: list[str] = []
    got = threading.Event()

    def second_borrower() -> None:
        with pool.client() as c:
            order.append("second got it")
            got.set()
            assert c.sc_status().online

    with pool.client() as first:
        assert first.sc_status().online
        borrower = threading.Thread(target=second_borrower)
        borrower.start()
        deadline = time.monotonic() + 5
        while not _waiting_in_the_pool(borrower):
            assert not got.is_set(), "the second borrower got a connection the first holds"
            assert time.monotonic() < deadline, "the second borrower never reached the pool"
            time.sleep(0.005)
        order.append("first gives back")
    assert got.wait(5), "the waiting borrower was not woken when the connection came back"
    borrower.join(5)
    pool.close()
    assert order == ["first gives back", "second got it"]
    assert [mid for mid, _ in library.seen].count("93") == 1  # the same connection


class Clock:
    """The pool's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_down_ils_fails_fast_then_the_pool_reconnects_when_it_is_back(start_ils) -> None:
    """On a clock the test moves: while the backoff lasts the pool does not even try,
    shown with the ILS already back (a try would succeed); past it, it reconnects."""
    ils = start_ils()
    port = ils.port
    clock = Clock()
    pool = Sip2Pool(system_for(port, timeout_s=0.5), backoff_min_s=0.2, backoff_max_s=0.4, monotonic=clock)
    with pool.client() as c:
        c.sc_status()
    ils.stop()
    with pytest.raises(Sip2Unavailable, match="cannot connect"), pool.client() as c:
        c.sc_status()  # the idle connection is gone; reconnecting fails
    state = pool.state()
    assert state.up is False and state.retry_in_s == pytest.approx(0.2) and "cannot connect" in state.last_error
    start_ils(port=port)
    clock.now += 0.19
    with pytest.raises(Sip2Unavailable, match=r"down, next try in .* \(last error: .*cannot connect"):
        pool.client().__enter__()  # the ILS answers again, yet no try while in backoff
    clock.now += 0.02
    with pool.client() as c:
        assert c.sc_status().online
    assert pool.state().up is True
    pool.close()


def test_a_timeout_inside_the_block_puts_the_system_in_backoff(start_ils) -> None:
    ils = start_ils()
    pool = Sip2Pool(system_for(ils.port), backoff_min_s=5)
    with pytest.raises(Sip2Unavailable), pool.client():
        raise Sip2Unavailable("east: no answer to 11 (checkout) within 5 s")
    with pytest.raises(Sip2Unavailable, match="down, next try"):
        pool.client().__enter__()
    pool.close()


def test_a_connection_lost_inside_the_block_frees_its_place_in_the_pool(start_ils) -> None:
    """Found by the chaos soak (bench/chaos.py): each time the ILS died during a call, the
    closed connection kept its place, so after two the pool of two answered "all 2
    connections busy" for ever and the hub's queue for that system never drained again."""
    ils = start_ils()
    pool = Sip2Pool(system_for(ils.port, timeout_s=0.3), size=2, backoff_min_s=0.05, backoff_max_s=0.05)
    for _ in range(3):  # more losses than places
        with pytest.raises(Sip2Unavailable, match="connection reset"), pool.client() as c:
            c.sc_status()
            raise Sip2Unavailable("east: connection reset during 09 (checkin)")
        time.sleep(0.1)  # past the backoff
    with pool.client() as c:
        assert c.sc_status().online
    assert pool.state().open_connections == 1
    pool.close()
