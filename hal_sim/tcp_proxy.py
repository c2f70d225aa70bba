"""A TCP proxy between a kiosk and its broker whose route can be cut, the way a kiosk's
network fails in the field, while the broker keeps running for everyone else. It only
forwards bytes, so it works with any broker address, TLS included.

Two ways down, one way back:
- `black_hole()`: a dropped 4G route. New connections are accepted (the TCP handshake
  completes) and then nothing passes either way; open connections stay open and carry
  nothing. Nobody is told: the kiosk has to notice by itself (MQTT keepalive). This is
  what a kiosk sees when its modem loses the network.
- `cut()`: a refused route. Every open connection is closed and new ones are closed as
  soon as they are accepted, so the kiosk knows at once.
- `restore()`: bytes pass again. As TCP would after a black hole, connections that
  were held resume where they stopped (what either side wrote meanwhile is delivered
  now, in order), and a connection accepted during the hole and still open is
  connected to the broker and its first bytes handed on; one the kiosk gave up on
  meanwhile is forgotten.

What a caller may rely on: the methods are thread-safe and return once the proxy's
own thread has applied the change (so a byte written after `black_hole()` returns
does not pass); `port` is where it listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["up", "black hole", "refused"]
_HELD_BYTES_MAX = 1 << 20  # a connection accepted in a hole holds at most this much
_READ = 65536


@dataclass(eq=False)
class _Waiting:
    """A connection accepted while the route was a black hole: no broker side yet."""

    client: socket.socket
    held: bytearray = field(default_factory=bytearray)


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket


class CuttableProxy:
    """Listens on 127.0.0.1:`port` (0 = a free one) and forwards to `target`."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._mode: Mode = "up"
        self._pairs: list[_Pair] = []
        self._waiting: list[_Waiting] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._orders: list[tuple[Mode | None, threading.Event]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def up(self) -> bool:
        return self._mode == "up"

    def black_hole(self) -> None:
        """The route drops every packet: connections are accepted, nothing passes."""
        self._order("black hole")

    def cut(self) -> None:
        """The route refuses: close every connection, refuse new ones."""
        self._order("refused")

    def restore(self) -> None:
        """Bytes pass again; held connections resume."""
        self._order("up")

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._order(None)
        self._thread.join(timeout=2)

    # ---- the proxy's own thread ----

    def _order(self, mode: Mode | None) -> None:
        done = threading.Event()
        if not self._thread.is_alive():
            return
        with self._lock:
            self._orders.append((mode, done))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if threading.current_thread() is not self._thread:
            done.wait(timeout=5)

    def _serve(self) -> None:
        try:
            while not self._stop:
                for key, _ in self._selector.select(timeout=0.5):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._apply_orders()
                    elif isinstance(key.data, _Waiting):
                        self._hold(key.data)
                    else:
                        self._forward(key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            self._shut_everything()

    def _apply_orders(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            orders, self._orders = self._orders, []
        for mode, done in orders:
            if mode is None:
                self._stop = True
            else:
                self._switch(mode)
            done.set()

    def _switch(self, mode: Mode) -> None:
        before, self._mode = self._mode, mode
        if mode == "refused":
            for pair in list(self._pairs):
                self._close_pair(pair)
            for waiting in list(self._waiting):
                self._drop_waiting(waiting)
        elif mode == "black hole" and before == "up":
            for pair in self._pairs:  # hold them: nothing read, nothing written
                for sock in (pair.client, pair.upstream):
                    self._selector.unregister(sock)
        elif mode == "up" and before == "black hole":
            for pair in self._pairs:
                self._watch(pair)
            for waiting in list(self._waiting):
                self._drop_waiting(waiting, keep_client=True)
                self._connect(waiting.client, bytes(waiting.held))

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._mode == "refused":
            client.close()
        elif self._mode == "black hole":
            waiting = _Waiting(client)
            client.setblocking(False)
            self._waiting.append(waiting)
            self._selector.register(client, selectors.EVENT_READ, waiting)
        else:
            self._connect(client, b"")

    def _connect(self, client: socket.socket, first: bytes) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=2)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.settimeout(5)  # reads happen only when readable; sends may wait a little
        pair = _Pair(client, upstream)
        self._pairs.append(pair)
        try:
            if first:
                upstream.sendall(first)
        except OSError:
            self._close_pair(pair, watched=False)
            return
        self._watch(pair)

    def _watch(self, pair: _Pair) -> None:
        self._selector.register(pair.client, selectors.EVENT_READ, pair)
        self._selector.register(pair.upstream, selectors.EVENT_READ, pair)

    def _hold(self, waiting: _Waiting) -> None:
        """A connection accepted in the hole: keep what it sends, notice when it gives up."""
        if not any(w is waiting for w in self._waiting):
            return  # restored or dropped earlier in this round
        try:
            data = waiting.client.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data and len(waiting.held) + len(data) <= _HELD_BYTES_MAX:
            waiting.held += data
        elif not data:
            self._drop_waiting(waiting)

    def _forward(self, source: socket.socket, pair: _Pair) -> None:
        if self._mode != "up" or not any(p is pair for p in self._pairs):
            return  # held or closed earlier in this round
        sink = pair.upstream if source is pair.client else pair.client
        try:
            data = source.recv(_READ)
            if data:
                sink.sendall(data)
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset, timeout or closed: the pair is done
            pass
        self._close_pair(pair)

    def _drop_waiting(self, waiting: _Waiting, *, keep_client: bool = False) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(waiting.client)
        self._waiting = [w for w in self._waiting if w is not waiting]
        if not keep_client:
            waiting.client.close()

    def _close_pair(self, pair: _Pair, *, watched: bool = True) -> None:
        for sock in (pair.client, pair.upstream):
            if watched:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._pairs = [p for p in self._pairs if p is not pair]

    def _shut_everything(self) -> None:
        for pair in list(self._pairs):
            self._close_pair(pair)
        for waiting in list(self._waiting):
            self._drop_waiting(waiting)
        self._selector.close()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
