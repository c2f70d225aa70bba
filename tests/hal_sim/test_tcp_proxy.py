"""The cuttable route between a kiosk and its broker (hal_sim.tcp_proxy), on real
loopback sockets in front of an echo server: a black hole holds bytes without a word,
a refusal closes, and a restored route carries on as TCP would."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from hal_sim.tcp_proxy import CuttableProxy


@pytest.fixture
def echo() -> Iterator[tuple[int, list[socket.socket]]]:
    """An echo server; the list holds the connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


def _echo(conn: socket.socket) -> None:
    try:
        while data := conn.recv(1024):
            conn.sendall(data)
    except OSError:
        pass
    conn.close()


@pytest.fixture
def proxy(echo: tuple[int, list[socket.socket]]) -> Iterator[CuttableProxy]:
    p = CuttableProxy("127.0.0.1", echo[0])
    yield p
    p.close()


def connect(proxy: CuttableProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.settimeout(2)
    return sock


def read(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def silent(sock: socket.socket, for_s: float = 0.5) -> bool:
    """Nothing comes back, and the connection is not closed either."""
    sock.settimeout(for_s)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(2)
    return False


def test_a_black_hole_holds_an_open_connection_and_restore_delivers_in_order(proxy) -> None:
    sock = connect(proxy)
    sock.sendall(b"before ")
    assert read(sock, 7) == b"before "
    proxy.black_hole()
    assert proxy.mode == "black hole" and not proxy.up
    sock.sendall(b"during ")  # accepted by TCP, passed by nobody
    assert silent(sock)
    proxy.restore()
    sock.sendall(b"after")
    assert read(sock, 12) == b"during after"


def test_a_connection_made_in_a_black_hole_is_accepted_then_stalls_until_restore(
    proxy, echo
) -> None:
    proxy.black_hole()
    sock = connect(proxy)  # the TCP handshake completes: no refusal to notice
    sock.sendall(b"hello")
    assert silent(sock)
    assert echo[1] == []  # the broker side has not heard of it
    proxy.restore()
    assert read(sock, 5) == b"hello"


def test_a_connection_given_up_in_the_black_hole_never_reaches_the_broker(proxy, echo) -> None:
    proxy.black_hole()
    gave_up = connect(proxy)
    gave_up.sendall(b"ClientHello")
    gave_up.close()
    waiting = connect(proxy)  # a later try, still waiting when the route comes back
    waiting.sendall(b"again")
    assert silent(waiting)
    proxy.restore()
    assert read(waiting, 5) == b"again"
    assert len(echo[1]) == 1


def test_a_refused_route_closes_every_connection_and_new_ones(proxy) -> None:
    held = connect(proxy)
    proxy.black_hole()
    stalled = connect(proxy)
    proxy.cut()
    assert held.recv(1) == b""
    assert stalled.recv(1) == b""
    assert connect(proxy).recv(1) == b""
    proxy.restore()
    sock = connect(proxy)
    sock.sendall(b"back")
    assert read(sock, 4) == b"back"
