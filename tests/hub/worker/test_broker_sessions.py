"""What Mosquitto does with the hub's shared subscription when members die: measured on
the real broker (the alliance's secure one, `mosquitto` on a free port, as every test
here), with members that are processes a test SIGKILLs (tests/hub/worker/share_member.py), each
connected as a hub worker identity (`hub-a` is worker `a`: the broker makes the CN the
client id), and txns published by enrolled kiosk `k1`. docs/ordering.md, "What the broker
does", reports these facts; hub/worker/service.py is designed for them.

Every member subscribes `$share/hub/alliance/v1/kiosk/+/txn` at QoS 1. "Persistent"
means `clean_start=False` with a session expiry, as the hub's workers connect.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from tests.secure_clients import identity_for, secure_client

pytestmark = pytest.mark.slow

MEMBER = Path(__file__).with_name("share_member.py")
KIOSK_TXN = "alliance/v1/kiosk/k1/txn"
# After a SIGKILL the kernel has closed the member's socket; the broker reads the close
# on its next turn. This margin keeps a publish from overtaking it.
SETTLE_S = 0.2


class Member:
    """A shared-subscription member process and what it printed."""

    def __init__(
        self, lab: Lab, broker: MosquittoProcess, client_id: str, expiry_s: int = 300, *, ack: bool = True
    ) -> None:
        who = identity_for(lab, client_id)
        argv = [sys.executable, str(MEMBER), str(broker.port), client_id, str(expiry_s)]
        argv += ([] if ack else ["--no-ack"]) + ["--tls", str(who.ca), str(who.cert), str(who.key)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self._wait(lambda: "ready" in self.lines, 10, f"{client_id} subscribed")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.strip())
                self._changed.notify_all()

    def _wait(self, check: object, timeout_s: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(check, timeout_s):  # type: ignore[arg-type]
                raise AssertionError(f"timed out waiting for {what}; saw {self.lines}")

    @property
    def session_present(self) -> bool:
        return "connected present=1" in self.lines

    def received(self) -> list[str]:
        with self._changed:
            return [line.split()[1] for line in self.lines if line.startswith("msg ")]

    def dups(self) -> list[bool]:
        with self._changed:
            return [line.endswith("dup=1") for line in self.lines if line.startswith("msg ")]

    def wait_received(self, n: int, timeout_s: float = 5.0) -> list[str]:
        self._wait(lambda: len(self.received()) >= n, timeout_s, f"{n} messages")
        return self.received()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def members(lab: Lab) -> object:
    made: list[Member] = []

    def make(*args: object, **kwargs: object) -> Member:
        member = Member(lab, *args, **kwargs)  # type: ignore[arg-type]
        made.append(member)
        return member

    yield make
    for member in made:
        if member.proc.poll() is None:
            member.kill()


@pytest.fixture
def publish(lab: Lab) -> Callable[[MosquittoProcess, list[str]], None]:
    """QoS 1 publishes by kiosk k1 on its own txn topic, each confirmed by the broker's
    PUBACK (routed by then; a refusal fails the test)."""

    def send(broker: MosquittoProcess, payloads: list[str]) -> None:
        refused: list[object] = []
        client = secure_client(lab, broker, "k1")
        client.on_publish = lambda _c, _u, _mid, reason, _p: refused.extend([reason] if reason.is_failure else [])
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            for payload in payloads:
                client.publish(KIOSK_TXN, payload, qos=1).wait_for_publish(5)
        finally:
            client.disconnect()
            client.loop_stop()
        assert not refused, f"the broker refused k1's txns: {refused}"

    return send


def numbered(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(start, start + n)]


def received_up_to_a_marker(
    broker: MosquittoProcess, publish: Callable[..., None], member: Member, *others: Member
) -> list[str]:
    """What `member` received, once the broker has handed it all it owed: markers are
    published one at a time until one reaches `member` (in a group the broker's turn may
    give a marker to one of `others`: then the next). A session's messages come in
    order, so whatever the broker still had for `member` arrived before its marker.
    Returns the non-marker messages."""
    for i in range(20):
        marker = f"mark{i:02d}"
        publish(broker, [marker])
        deadline = time.monotonic() + 10
        while not any(marker in m.received() for m in (member, *others)):
            assert time.monotonic() < deadline, f"marker {marker} reached no member"
            time.sleep(0.01)
        if marker in member.received():
            return [m for m in member.received() if not m.startswith("mark")]
    raise AssertionError(f"20 markers and none reached {member.proc.args[3]}")


def kill(member: Member) -> None:
    member.kill()
    time.sleep(SETTLE_S)


def test_a_killed_members_share_waits_in_its_session_not_at_the_connected_member(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """(a) One member killed, one connected: the broker goes on handing out messages in
    turn, the dead member's turn included. Its half is queued in its session, not given
    to the connected member, and comes to it, in order, when it returns under its id."""
    a, b = members(own_broker, "hub-a"), members(own_broker, "hub-b")
    kill(a)
    sent = numbered("a", 20)
    publish(own_broker, sent)
    got_b = b.wait_received(10)

    a_again = members(own_broker, "hub-a")
    got_a = a_again.wait_received(10)
    assert a_again.session_present
    assert got_a == [m for m in sent if m not in got_b], "the rest, in publish order"
    assert sorted(got_a + got_b) == sent
    assert received_up_to_a_marker(own_broker, publish, b, a_again) == got_b, "b got only its turns"


def test_with_no_member_connected_the_messages_wait_in_the_session(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """(b) The only member killed: what is published meanwhile is queued in its session
    and delivered in order when it reconnects with the same client id."""
    a = members(own_broker, "hub-a")
    kill(a)
    sent = numbered("b", 10)
    publish(own_broker, sent)
    a_again = members(own_broker, "hub-a")
    assert a_again.wait_received(10) == sent
    assert a_again.session_present and not any(a_again.dups())


def test_a_dead_members_unacked_messages_wait_for_it_marked_dup(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """(c) A member that received messages but never acknowledged them is killed: the
    broker keeps them in flight in its session (it does not hand them to the connected
    member) and sends them again, marked dup, when the member returns."""
    n = members(own_broker, "hub-n", ack=False)
    m = members(own_broker, "hub-m")
    sent = numbered("c", 10)
    publish(own_broker, sent)
    in_flight = n.wait_received(5)
    got_m = m.wait_received(5)
    kill(n)

    n_again = members(own_broker, "hub-n")
    assert n_again.wait_received(5) == in_flight
    assert n_again.session_present and all(n_again.dups())
    assert sorted(in_flight + got_m) == sent
    got = received_up_to_a_marker(own_broker, publish, m, n_again)
    assert got == got_m, "the dead member's unacked messages stayed with it"


def test_an_expired_session_drops_what_it_held_and_leaves_the_group(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """A dead member's session expires: what was queued for it is dropped (no other
    member gets it), and from then on the connected members get every message."""
    a = members(own_broker, "hub-a", expiry_s=1)
    b = members(own_broker, "hub-b")
    kill(a)
    first = numbered("d", 10)
    publish(own_broker, first)
    assert len(b.wait_received(5)) == 5
    time.sleep(2.5)  # the broker checks expiries about once a second
    later = numbered("d", 10, start=10)
    publish(own_broker, later)
    got_b = b.wait_received(15)
    assert got_b[5:] == later

    a_again = members(own_broker, "hub-a", expiry_s=1)
    assert not a_again.session_present
    assert received_up_to_a_marker(own_broker, publish, a_again, b) == []
    assert len(set(got_b)) == 15, "five messages were lost"


def test_a_member_without_session_expiry_leaves_at_once_and_with_none_left_messages_are_dropped(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """The hub's old way (session expiry 0, what paho's MQTT 5 default amounts to): a
    killed member leaves the group at once, so the connected member gets everything;
    with no member connected, the broker drops what is published."""
    a, b = members(own_broker, "hub-a", expiry_s=0), members(own_broker, "hub-b", expiry_s=0)
    kill(a)
    sent = numbered("i", 10)
    publish(own_broker, sent)
    assert b.wait_received(10) == sent
    kill(b)
    publish(own_broker, numbered("i", 5, start=10))
    b_again = members(own_broker, "hub-b", expiry_s=0)
    assert not b_again.session_present
    assert received_up_to_a_marker(own_broker, publish, b_again) == []


def test_a_clean_broker_restart_keeps_sessions_and_queued_messages(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """With `persistence true` a broker stopped with SIGTERM saves its sessions and
    queues and restores them at start."""
    a = members(own_broker, "hub-a")
    kill(a)
    sent = numbered("e", 5)
    publish(own_broker, sent)
    own_broker.stop()
    own_broker.start()
    a_again = members(own_broker, "hub-a")
    assert a_again.wait_received(5) == sent and a_again.session_present


def test_a_killed_broker_comes_back_as_it_last_saved(
    own_broker: MosquittoProcess, members: object, publish: Callable[..., None]
) -> None:
    """A broker SIGKILLed saves nothing: it restarts from its last save (here a clean
    restart). What was queued since is lost, and what was delivered since is delivered
    again, without the dup flag."""
    a = members(own_broker, "hub-a")
    kill(a)
    saved = numbered("f", 5)
    publish(own_broker, saved)
    own_broker.stop()  # saves the session with `saved` queued
    own_broker.start()
    a = members(own_broker, "hub-a")
    assert a.wait_received(5) == saved  # delivered and acknowledged
    kill(a)
    publish(own_broker, numbered("f", 5, start=5))
    own_broker.kill()
    own_broker.start()
    a_again = members(own_broker, "hub-a")
    assert a_again.wait_received(5) == saved
    assert received_up_to_a_marker(own_broker, publish, a_again) == saved
    assert not any(a_again.dups())
