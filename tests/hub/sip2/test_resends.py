"""The one resend rule, against a raw-socket ACS that does what pysip2 will not: a
corrupted checksum, a 96, silence, garbage."""

from __future__ import annotations

import time

import pytest

from hub.sip2.client import Sip2Client, Sip2ProtocolError, Sip2Unavailable
from tests.hub.sip2.conftest import system_for
from tests.hub.sip2.peers import STATUS, frame, seq_of


def test_a_corrupted_answer_is_asked_again_with_97(raw_peer) -> None:
    sent_bad = []

    def answer(request: bytes) -> bytes:
        if request.startswith(b"97"):
            return frame(f"{STATUS}AY{sent_bad[0]}AZ")
        good = frame(f"{STATUS}AY{seq_of(request)}AZ")
        sent_bad.append(seq_of(request))
        return good[:-5] + (b"0000" if good[-5:-1] != b"0000" else b"0001") + b"\r"

    peer = raw_peer(answer)
    with Sip2Client(system_for(peer.port)) as c:
        status = c.sc_status()
    assert status.library_name == "east"
    assert [r[:2] for r in peer.received] == [b"93", b"99", b"97"]
    assert peer.received[2] == frame("97AZ", "utf-8")


def test_a_96_makes_us_send_the_same_bytes_again(raw_peer) -> None:
    asked = []

    def answer(request: bytes) -> bytes:
        asked.append(request)
        if len(asked) == 1:
            return frame("96AZ")
        return frame(f"{STATUS}AY{seq_of(request)}AZ")

    peer = raw_peer(answer)
    with Sip2Client(system_for(peer.port)) as c:
        assert c.sc_status().online
    assert asked[0] == asked[1]  # same AY, same AZ: an ACS that acted on it replays


def test_endless_96_is_a_protocol_error_not_a_loop(raw_peer) -> None:
    peer = raw_peer(lambda request: frame("96AZ"))
    with Sip2Client(system_for(peer.port)) as c, pytest.raises(
            Sip2ProtocolError, match=r"asked for 99 \(SC status\) again 4 times"):
        c.sc_status()
    assert len(peer.received) == 1 + 4


def test_endless_corruption_is_a_protocol_error(raw_peer) -> None:
    peer = raw_peer(lambda request: b"941AY0AZ0000\r")
    with Sip2Client(system_for(peer.port)) as c, pytest.raises(
            Sip2ProtocolError, match="still corrupt after 3 resend requests"):
        c.sc_status()


def test_silence_is_a_timeout_within_timeout_s(raw_peer) -> None:
    peer = raw_peer(lambda request: b"")
    c = Sip2Client(system_for(peer.port, timeout_s=0.3))
    started = time.monotonic()
    with pytest.raises(Sip2Unavailable, match=r"no answer to 99 \(SC status\) within 0.3 s"):
        c.sc_status()
    assert time.monotonic() - started < 1.5
    assert not c.connected


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"\x00\x01garbage\r", "NUL"),
        (frame("941AY0AZ"), "answered 99 .* with 94, not 98"),
        (frame("98YYAY0AZ"), "fixed part cut short"),
        (b"\xff" * 70000, "without a CR"),
    ],
)
def test_garbage_is_a_protocol_error_and_closes_the_connection(raw_peer, reply, words) -> None:
    peer = raw_peer(lambda request: reply)
    c = Sip2Client(system_for(peer.port))
    with pytest.raises(Sip2ProtocolError, match=words):
        c.sc_status()
    assert not c.connected


def test_an_answer_with_another_sequence_number_is_refused(raw_peer) -> None:
    peer = raw_peer(lambda request: frame(f"{STATUS}AY{(int(seq_of(request)) + 1) % 10}AZ"))
    with Sip2Client(system_for(peer.port)) as c, pytest.raises(Sip2ProtocolError, match="carries AY"):
        c.sc_status()


def test_sequence_numbers_cycle_0_to_9(raw_peer) -> None:
    peer = raw_peer(lambda request: frame(f"{STATUS}AY{seq_of(request)}AZ"))
    with Sip2Client(system_for(peer.port)) as c:
        for _ in range(11):
            c.sc_status()
    assert [seq_of(r) for r in peer.received] == [str(i % 10) for i in range(12)]
