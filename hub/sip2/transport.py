"""One TCP (or TLS) connection to an ACS that moves whole SIP2 frames, with a deadline
on every read.

Three outcomes a reader must tell apart, so they are three different signals:
- `PeerClosed`: the ACS closed (EOF, reset, broken pipe). After a request that usually
  means the ACS refused the request; on an idle connection, that the ACS restarted.
- `Sip2Unavailable`: cannot connect (refused, unreachable, TLS handshake) or no frame
  before the deadline.
- `Sip2ProtocolError`: bytes that cannot be a frame (from `codec.FrameBuffer`).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from pathlib import Path

from hub.sip2.codec import FrameBuffer
from hub.sip2.errors import Sip2Unavailable


class PeerClosed(Exception):
    """The ACS closed the connection."""


class ReadTimeout(Exception):
    """No complete frame before the deadline."""


class Connection:
    """A connected socket and its frame buffer. Not thread-safe."""

    def __init__(self, sock: socket.socket, label: str) -> None:
        self._sock = sock
        self._label = label
        self._frames = FrameBuffer()
        self._closed = False

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        timeout_s: float,
        tls: bool = False,
        tls_ca: Path | None = None,
        label: str | None = None,
    ) -> Connection:
        """Connect (and shake hands for TLS) within `timeout_s`; Sip2Unavailable otherwise."""
        label = label or f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except TimeoutError:
            raise Sip2Unavailable(f"{label}: no TCP connection within {timeout_s:g} s") from None
        except OSError as exc:
            raise Sip2Unavailable(f"{label}: cannot connect ({exc.strerror or exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            try:
                context = ssl.create_default_context(cafile=str(tls_ca) if tls_ca else None)
                sock = context.wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise Sip2Unavailable(f"{label}: TLS handshake failed ({exc})") from None
        return cls(sock, label)

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes, timeout_s: float) -> None:
        try:
            self._sock.settimeout(timeout_s)
            self._sock.sendall(data)
        except TimeoutError:
            raise ReadTimeout() from None
        except OSError as exc:
            raise PeerClosed(str(exc)) from None

    def read_frame(self, timeout_s: float) -> bytes:
        """The next whole frame; ReadTimeout, PeerClosed, or Sip2ProtocolError (junk)."""
        deadline = time.monotonic() + timeout_s
        while True:
            frame = self._frames.next_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout()
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(4096)
            except TimeoutError:
                raise ReadTimeout() from None
            except OSError as exc:
                raise PeerClosed(str(exc)) from None
            if not data:
                raise PeerClosed("end of stream")
            self._frames.feed(data)

    def has_input_waiting(self) -> bool:
        """Whether something (EOF, or bytes nobody asked for) is waiting on an idle
        connection; either way it is no longer fit for a request."""
        if self._closed:
            return True
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()
