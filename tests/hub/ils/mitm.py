"""A man in the middle between the hub and a member's SIP2 system, for the attack tests:
a TCP proxy on 127.0.0.1 that records every byte it carries and may

- rewrite each frame the system sends (`rewrite`: bytes in, bytes out), on plain TCP;
- end TLS itself with a certificate of its own (`tls`) and speak TLS onward;
- flip a bit in the system's encrypted records once the session is up (`flip`).

One thread pair per connection; `close()` ends them all.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable

from hub.sip2.codec import checksum


def resign(frame: bytes) -> bytes:
    """`frame` (CR included) with its AZ checksum recomputed, as an attacker would."""
    body = frame.rstrip(b"\r")
    cut = body.rindex(b"AZ") + 2
    return body[:cut] + checksum(body[:cut]).encode() + b"\r"


def replace_field(frame: bytes, field_id: bytes, value: bytes) -> bytes:
    """`frame` with the value of its first `field_id` field replaced, re-checksummed."""
    start = frame.index(b"|" + field_id) + 1 + len(field_id)
    end = frame.index(b"|", start)
    return resign(frame[:start] + value + frame[end:])


class Mitm:
    """Listens on 127.0.0.1:`port` and forwards to 127.0.0.1:`target_port`."""

    def __init__(
        self,
        target_port: int,
        *,
        rewrite: Callable[[bytes], bytes] | None = None,
        tls: ssl.SSLContext | None = None,
        flip: bool = False,
    ) -> None:
        self.target_port = target_port
        self.rewrite = rewrite
        self.tls = tls
        self.flip = flip
        self.seen = bytearray()  # every byte carried, both ways, as the proxy saw it
        self.rewritten = 0
        self.handshakes_failed = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="mitm").start()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            if self.tls is not None:
                onward = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                onward.check_hostname, onward.verify_mode = False, ssl.CERT_NONE
                upstream = onward.wrap_socket(upstream)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            client.close()
            return
        with self._lock:
            self._socks += [client, upstream]
        state = {"client_data": False}
        threading.Thread(target=self._pump, args=(client, upstream, False, state), daemon=True).start()
        self._pump(upstream, client, True, state)

    def _pump(self, source: socket.socket, sink: socket.socket, from_system: bool, state: dict) -> None:
        buf = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self.seen += data
                if not from_system:
                    state["client_data"] = state["client_data"] or data[:1] == b"\x17"
                    sink.sendall(data)
                    continue
                if self.flip and state["client_data"] and data[:1] == b"\x17":
                    data = data[:-1] + bytes([data[-1] ^ 0x01])  # one bit of an encrypted record
                    self.rewritten += 1
                if self.rewrite is None:
                    sink.sendall(data)
                    continue
                buf += data
                while b"\r" in buf:
                    frame, buf = buf.split(b"\r", 1)
                    changed = self.rewrite(frame + b"\r")
                    self.rewritten += changed != frame + b"\r"
                    sink.sendall(changed)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()
