"""One TLS (or, where allowed, plain TCP) connection to an ACS that moves whole SIP2
frames, with a deadline on every read.

TLS verifies the server: its chain against `tls_ca` (else the system's trust store) and
its name (the configured host, DNS name or IP address), and, with `tls_fingerprint`, the
SHA-256 of its certificate against the pin; with a pin and no CA, the pin alone decides
(a member's self-signed certificate). TLS 1.2 at least. A failure of any of these is a
`Sip2Unavailable` naming it, before a byte of SIP2 is sent.

Three outcomes a reader must tell apart, so they are three different signals:
- `PeerClosed`: the ACS closed (EOF, reset, broken pipe). After a request that usually
  means the ACS refused the request; on an idle connection, that the ACS restarted.
- `Sip2Unavailable`: cannot connect (refused, unreachable, TLS handshake) or no frame
  before the deadline.
- `Sip2ProtocolError`: bytes that cannot be a frame (from `codec.FrameBuffer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import select
import socket
import ssl
import time
from pathlib import Path

from hub.sip2.codec import FrameBuffer
from hub.sip2.errors import Sip2Unavailable


def tls_context(ca: Path | None, pinned: bool) -> ssl.SSLContext:
    """The client context: TLS 1.2+, the chain and the host name verified against `ca`
    (else the trust store); with a pin and no CA, the pin alone (checked after the
    handshake) decides."""
    if pinned and ca is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def certificate_fingerprint(sock: ssl.SSLSocket) -> str:
    """The SHA-256 of the peer's certificate (DER), 64 lower-case hex digits."""
    der = sock.getpeercert(binary_form=True) or b""
    return hashlib.sha256(der).hexdigest()


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
        tls: bool = True,
        tls_ca: Path | None = None,
        tls_fingerprint: str | None = None,
        label: str | None = None,
    ) -> Connection:
        """Connect (and shake hands and verify the server, for TLS) within `timeout_s`;
        Sip2Unavailable otherwise. `tls_fingerprint`: 64 lower-case hex digits."""
        label = label or f"{host}:{port}"
        try:
            context = tls_context(tls_ca, pinned=tls_fingerprint is not None) if tls else None
        except (ssl.SSLError, OSError) as exc:
            raise Sip2Unavailable(f"{label}: cannot load tls_ca {tls_ca} ({exc})") from None
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except TimeoutError:
            raise Sip2Unavailable(f"{label}: no TCP connection within {timeout_s:g} s") from None
        except OSError as exc:
            raise Sip2Unavailable(f"{label}: cannot connect ({exc.strerror or exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                sock.close()
                raise Sip2Unavailable(
                    f"{label}: TLS handshake failed: the server's certificate is not trusted "
                    f"({exc.verify_message}); check tls_ca, or that nobody stands in between") from None
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise Sip2Unavailable(
                    f"{label}: TLS handshake failed ({exc}); does the server speak TLS?") from None
            if tls_fingerprint is not None:
                seen = certificate_fingerprint(sock)  # type: ignore[arg-type]
                if not hmac.compare_digest(seen, tls_fingerprint):
                    sock.close()
                    raise Sip2Unavailable(
                        f"{label}: TLS handshake failed: the server's certificate (sha256 "
                        f"{seen[:16]}...) is not the pinned tls_fingerprint; someone may stand "
                        "in between, or the system has a new certificate")
        return cls(sock, label)

    def tls_description(self) -> str:
        """How this connection is protected, for `sip2-check` and logs: the TLS version
        and the server certificate's SHA-256, or plain TCP."""
        if isinstance(self._sock, ssl.SSLSocket):
            return f"{self._sock.version()}, server certificate sha256 {certificate_fingerprint(self._sock)}"
        return "PLAIN TCP (allow_plain): password and PINs readable on the network"

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
