"""`Sip2Client.before_request`: the hook a caller counts its send in (the drainer's
`attempts`) runs once, just before the request leaves: not for the login, not when
connecting fails, not again for our client's own resend; and a hook that fails sends
nothing. Against a raw-socket ACS that records every frame it reads."""

from __future__ import annotations

import socket

import pytest

from hub.sip2.client import Sip2Client, Sip2Unavailable
from tests.hub.sip2.conftest import system_for
from tests.hub.sip2.peers import STATUS, frame, seq_of


def status(request: bytes) -> bytes:
    return frame(f"{STATUS}AY{seq_of(request)}AZ")


def test_the_hook_runs_once_just_before_the_first_request_and_not_for_the_login(raw_peer) -> None:
    acs = raw_peer(status)
    seen: list[list[bytes]] = []
    c = Sip2Client(system_for(acs.port))
    with c, c.before_request(lambda: seen.append([f[:2] for f in acs.received])):
        c.sc_status()  # connects (93) first: the hook waits for the 99
        c.sc_status()  # a second request in the block: no second run
    assert seen == [[b"93"]]  # run once, after the login, before the 99 left
    assert [f[:2] for f in acs.received] == [b"93", b"99", b"99"]


def test_our_clients_resend_after_a_silent_close_runs_the_hook_once(raw_peer) -> None:
    answered: list[bytes] = []

    def answer(request: bytes) -> bytes | None:
        answered.append(request)
        return None if len(answered) == 2 else status(request)  # the second 99: closed unanswered

    acs = raw_peer(answer)
    runs: list[int] = []
    with Sip2Client(system_for(acs.port)) as c:
        c.sc_status()  # the connection has answered: a silent close now may be a restart
        with c.before_request(lambda: runs.append(1)):
            c.sc_status()
        assert c.sent_twice and c.request_sent
    assert runs == [1]
    assert [f[:2] for f in acs.received] == [b"93", b"99", b"99", b"93", b"99"]


def test_a_hook_that_fails_sends_nothing(raw_peer) -> None:
    acs = raw_peer(status)

    def fail() -> None:
        raise RuntimeError("the ledger is gone")

    with Sip2Client(system_for(acs.port)) as c:
        with pytest.raises(RuntimeError), c.before_request(fail):
            c.sc_status()
        assert [f[:2] for f in acs.received] == [b"93"]  # logged in, the 99 never left
        c.sc_status()  # the connection is still good, and the hook is gone
    assert [f[:2] for f in acs.received] == [b"93", b"99"]


def test_the_hook_does_not_run_when_connecting_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: connecting is refused
    runs: list[int] = []
    with Sip2Client(system_for(port)) as c:
        with pytest.raises(Sip2Unavailable), c.before_request(lambda: runs.append(1)):
            c.sc_status()
        assert not c.request_sent
    assert runs == []
