"""Fixtures for the SIP2 client: a real pysip2 ACS with a small library behind it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.pki.pki import ClientIdentity, init_pki, server_identity
from hub.sip2.client import Sip2System
from tests.hub.sip2.peers import (
    PASSWORD,
    USER,
    Library,
    RawPeer,
    ServerThread,
    build_app,
    login_then,
)


def system_for(port: int, encoding: str = "utf-8", **kw) -> Sip2System:
    """The client's view of a test ACS. Plain TCP (allowed) unless `tls=True` is given:
    these tests are about framing and resends; TLS has its own (test_tls.py), and the
    hub's path to the ILS simulator runs over TLS (tests/ils_peer.py)."""
    defaults = dict(name="east", host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                    institution="capital", location="alliance-kiosks", encoding=encoding,
                    timeout_s=2.0, tls=False, allow_plain=True)
    if kw.get("tls"):
        defaults["allow_plain"] = False
    return Sip2System(**{**defaults, **kw})


@pytest.fixture
def library() -> Library:
    return Library(
        patrons={"P1": ("张三", "1234"), "GUEST-NLC": ("国家图书馆", "")},
        titles={"B1": "红楼梦", "B2": "億萬人的書", "B3": "Dream of the Red Chamber"},
    )


@pytest.fixture
def start_ils(library: Library) -> Iterator[Callable[..., ServerThread]]:
    """Start pysip2 ACSs for the library (stopped at the test's end)."""
    started: list[ServerThread] = []

    def start(encoding: str = "utf-8", port: int = 0, tls: ssl.SSLContext | None = None, **kw) -> ServerThread:
        server = ServerThread(build_app(library, encoding=encoding, **kw), port, tls).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ils_identity(tmp_path: Path) -> ClientIdentity:
    """A server certificate for 127.0.0.1 from a CA of the test's own (`.ca`)."""
    init_pki(tmp_path / "ils-pki")
    return server_identity(tmp_path / "ils-pki", "ils-east", tmp_path / "ils-pki" / "ils")


def server_context(identity: ClientIdentity) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.cert, identity.key)
    return context


@pytest.fixture
def raw_peer() -> Iterator[Callable[[Callable[[bytes], bytes | None]], RawPeer]]:
    """Scripted ACS peers (`RawPeer`, after a login): `raw_peer(answer)` starts one; all
    closed after the test."""
    peers: list[RawPeer] = []

    def make(answer: Callable[[bytes], bytes | None]) -> RawPeer:
        peers.append(RawPeer(login_then(answer)))
        return peers[-1]

    yield make
    for p in peers:
        p.close()
