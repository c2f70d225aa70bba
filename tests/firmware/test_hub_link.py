"""The hub link against a real Mosquitto, with a tiny paho "hub" written here.

The real hub is built elsewhere; these tests need only its wire behaviour: answer a
request on its response topic with its correlation data, ack each txn by id.

All on the lab's secure broker (tests/conftest.py `broker`), as a kiosk runs: the link
connects with its enrolment (`kiosk_tls`) and holds the hub's public key, the fake hub
and every spy are `hub-...` identities, and the fake hub signs what it sends as the hub
does (`hub.worker.signer.HubSigner` with the lab's signing key).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, signing, topics
from contract.broker_url import parse_broker_url
from contract.messages import (
    Ack,
    CardRef,
    Command,
    CommandResult,
    KioskState,
    ReaderLookup,
    Response,
    Txn,
)
from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    HubAnswered,
    HubTimedOut,
    JournalDepth,
    JournalFailed,
    LinkChanged,
    TxnAcked,
)
from firmware.hub_link import HubLink
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hal_sim.tcp_proxy import CuttableProxy
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.worker.signer import HubSigner
from tests.secure_clients import kiosk_tls, secure_client

REPO = Path(__file__).resolve().parents[2]
CARD = "0110000012345"
LIBRARY = "dongcheng"
_counter = iter(range(1_000_000))


def new_kiosk_id() -> str:
    return f"t{os.getpid()}-{next(_counter)}"


def host_port(url: str) -> tuple[str, int]:
    addr = parse_broker_url(url)
    return addr.host, addr.port


def hub_signer(lab: Lab) -> HubSigner:
    """Signs as the hub does, with the lab's hub signing key."""
    return HubSigner(signing.load_private_key(lab.pki.hub_signing_key), dict(signing.DEFAULT_TTL_S))


def nodelay(_c: mqtt.Client, _u: object, sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Events:
    """Collects what the link posts; `wait` returns the first event matching."""

    def __init__(self) -> None:
        self.q: queue.Queue[object] = queue.Queue()
        self.seen: list[object] = []

    def post(self, event: object) -> None:
        self.q.put(event)

    def wait(self, match: Callable[[object], bool], timeout: float = 5.0) -> object:
        for event in self.seen:
            if match(event):
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event in {timeout}s; seen {self.seen[-10:]}")
            try:
                event = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if match(event):
                return event
            self.seen.append(event)

    def drain(self, wait_s: float = 0.0) -> list[object]:
        time.sleep(wait_s)
        while True:
            try:
                self.seen.append(self.q.get_nowait())
            except queue.Empty:
                return self.seen


class FakeHub:
    """A paho client that answers requests and acks txns like the hub would."""

    def __init__(
        self,
        lab: Lab,
        broker: MosquittoProcess,
        *,
        answer_delay_s: float = 0.0,
        answer: bool = True,
        ack: bool = True,
        persistent: bool = False,
    ) -> None:
        self.answer_delay_s = answer_delay_s
        self.answer = answer
        self.ack_enabled = threading.Event()
        if ack:
            self.ack_enabled.set()
        self.held: list[str] = []
        self.txn_ids: list[str] = []
        self.requests: list[bytes] = []
        self.topics: list[str] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.signer = hub_signer(lab)
        # a hub identity of its own: the broker makes the certificate's CN the client id
        self.client = secure_client(lab, broker, f"hub-fake{next(_counter)}")
        self.client.on_socket_open = nodelay
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(0.2, 1)
        host, port = host_port(broker.url)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent else 0
        self.client.connect(host, port, clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(5), "fake hub could not subscribe"

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        # every kiosk's inbound topics: what the broker's hub role may read
        client.subscribe([(topics.topic("+", leaf), 1) for leaf in topics.KIOSK_TO_HUB])

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list, _p: object
    ) -> None:
        if not any(r.is_failure for r in reasons):
            self.subscribed.set()

    def publish_signed(
        self, topic_name: str, message: messages._Msg, properties: Properties | None = None
    ) -> None:
        """Publish `message` on a kiosk's ack/resp/cmd topic, signed as the hub signs."""
        payload = messages.encode(message)
        props = self.signer.properties_for(topic_name, message, payload, properties)
        self.client.publish(topic_name, payload, qos=1, properties=props)

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.topics.append(msg.topic)
        if msg.topic.endswith("/req") and self.answer:
            self.requests.append(msg.payload)
            with self.lock:  # the topic the kiosk asks its answer on is one of its topics too
                self.topics.append(msg.properties.ResponseTopic)
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = msg.properties.CorrelationData
            req = messages.parse_request(msg.payload)
            if req.op == "blocklist":
                resp = Response(
                    blocked_hashes=["ab" * 32], blocklist_salt="cd" * 16, offline_max_items=3
                )
            else:
                resp = Response(state="valid", masked_name="Z*", pin_required=True)

            def send() -> None:
                self.publish_signed(msg.properties.ResponseTopic, resp, props)

            if self.answer_delay_s:
                threading.Timer(self.answer_delay_s, send).start()
            else:
                send()
        elif msg.topic.endswith("/txn"):
            txn = messages.parse(Txn, msg.payload)
            with self.lock:
                self.txn_ids.append(txn.txn_id)
                if not self.ack_enabled.is_set():
                    self.held.append(txn.txn_id)
                    return
            self.send_ack(txn.kiosk_id, txn.txn_id)

    def send_ack(self, kiosk_id: str, txn_id: str) -> None:
        self.publish_signed(topics.topic(kiosk_id, "ack"), Ack(txn_id=txn_id, result="committed"))

    def release(self, kiosk_id: str) -> None:
        with self.lock:
            self.ack_enabled.set()
            held, self.held = self.held, []
        for txn_id in held:
            self.send_ack(kiosk_id, txn_id)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def links() -> Iterator[list[HubLink]]:
    made: list[HubLink] = []
    yield made
    for link in made:
        link.stop()


def make_link(
    lab: Lab, url: str, events: Events, links: list[HubLink], kiosk_id: str, **kwargs: object
) -> HubLink:
    """Kiosk `kiosk_id`'s link as a kiosk runs it: its enrolment's TLS files (enrolled on
    first use) and the hub's public key, so only what the hub signed is acted on."""
    kwargs.setdefault("fetch_blocklist", False)
    kwargs.setdefault("tls", kiosk_tls(lab, kiosk_id, LIBRARY))
    kwargs.setdefault("hub_public_key", signing.load_public_key(lab.pki.hub_signing_pub))
    link = HubLink(url, kiosk_id, LIBRARY, events.post, firmware_version="test", **kwargs)  # type: ignore[arg-type]
    links.append(link)
    link.start()
    events.wait(lambda e: e == LinkChanged(True))
    return link


def txn(txn_id: str, kiosk_id: str, n: int = 0) -> Txn:
    return Txn(
        txn_id=txn_id,
        kiosk_id=kiosk_id,
        library_id="dongcheng",
        kind="loan",
        card=CardRef(scheme="joint", number=CARD),
        item=f"3010100{n:07d}",
        at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        mode="offline",
    )


def fill(journal: Journal, kiosk_id: str, n: int) -> list[str]:
    factory = TxnIdFactory(kiosk_id, journal.last_txn_id())
    ids = []
    for i in range(n):
        t = factory.next_id()
        journal.record(txn(t, kiosk_id, i))
        ids.append(t)
    return ids


def read_retained(
    lab: Lab, broker: MosquittoProcess, topic: str, timeout: float = 3.0
) -> bytes | None:
    """The retained message on `topic` (or one published live while we subscribe), read
    as a hub identity: only the hub may read a kiosk's state."""
    got: queue.Queue[bytes] = queue.Queue()
    client = secure_client(lab, broker, "hub-reader")
    client.on_connect = lambda c, *a: c.subscribe(topic, 1)
    client.on_message = lambda _c, _u, m: got.put(m.payload)
    host, port = host_port(broker.url)
    client.connect(host, port)
    client.loop_start()
    try:
        return got.get(timeout=timeout)
    except queue.Empty:
        return None
    finally:
        client.disconnect()
        client.loop_stop()


# ---- requests ----


def test_request_gets_the_hubs_answer_by_correlation_id(lab, broker, events, links) -> None:
    hub = FakeHub(lab, broker)
    try:
        link = make_link(lab, broker.url, events, links, new_kiosk_id())
        link.request(
            "c1",
            ReaderLookup(
                op="reader_lookup",
                card=CardRef(scheme="joint", number=CARD),
                library_id="dongcheng",
            ),
        )
        answer = events.wait(lambda e: isinstance(e, HubAnswered))
        assert answer == HubAnswered(
            "c1", Response(state="valid", masked_name="Z*", pin_required=True)
        )
    finally:
        hub.close()


def test_request_times_out_when_nobody_answers_and_a_late_answer_is_dropped(
    lab, broker, events, links
) -> None:
    hub = FakeHub(lab, broker, answer_delay_s=0.6)
    try:
        link = make_link(lab, broker.url, events, links, new_kiosk_id(), request_timeout_s=0.3)
        started = time.monotonic()
        link.request(
            "slow",
            ReaderLookup(
                op="reader_lookup",
                card=CardRef(scheme="joint", number=CARD),
                library_id="dongcheng",
            ),
        )
        assert events.wait(lambda e: isinstance(e, HubTimedOut | HubAnswered)) == HubTimedOut(
            "slow"
        )
        assert 0.25 <= time.monotonic() - started < 1.0
        later = events.drain(wait_s=0.8)
        assert not [e for e in later if isinstance(e, HubAnswered)]
    finally:
        hub.close()


def test_request_times_out_at_once_when_the_link_is_down(events) -> None:
    link = HubLink("mqtt://127.0.0.1:9", "k-down", "dongcheng", events.post, firmware_version="t")
    started = time.monotonic()
    link.request(
        "c",
        ReaderLookup(
            op="reader_lookup", card=CardRef(scheme="joint", number=CARD), library_id="dongcheng"
        ),
    )
    assert events.wait(lambda e: isinstance(e, HubTimedOut), timeout=0.1) == HubTimedOut("c")
    assert time.monotonic() - started < 0.1
    link.stop()
    link.stop()  # idempotent, also when never started


def test_a_request_waiting_when_the_broker_goes_away_ends_in_hub_timed_out(
    lab, own_broker, events, links
) -> None:
    link = make_link(lab, own_broker.url, events, links, new_kiosk_id(), request_timeout_s=60)
    link.request(
        "lost",
        ReaderLookup(
            op="reader_lookup", card=CardRef(scheme="joint", number=CARD), library_id="dongcheng"
        ),
    )
    own_broker.stop()
    assert events.wait(lambda e: isinstance(e, HubTimedOut)) == HubTimedOut("lost")
    assert events.wait(lambda e: isinstance(e, LinkChanged)) == LinkChanged(False)


def test_a_black_holed_route_is_noticed_by_the_link_itself_and_the_same_link_comes_back(
    lab, broker, events, links
) -> None:
    """A dead route says nothing (no reset, no close: hal_sim.tcp_proxy's black hole).
    The link's keepalive notices it: a request waiting with a 60 s timeout ends then,
    requests after that end at once instead of waiting out theirs, and the same link
    object reconnects by itself when the route is back."""
    address = parse_broker_url(broker.url)
    proxy = CuttableProxy(address.host, address.port)
    lookup = ReaderLookup(
        op="reader_lookup", card=CardRef(scheme="joint", number=CARD), library_id="dongcheng"
    )
    try:
        url = f"mqtts://127.0.0.1:{proxy.port}"
        link = make_link(lab, url, events, links, new_kiosk_id(), request_timeout_s=60)
        proxy.black_hole()
        link.request("lost", lookup)
        assert events.wait(lambda e: isinstance(e, HubTimedOut), timeout=30) == HubTimedOut("lost")
        assert events.wait(lambda e: isinstance(e, LinkChanged)) == LinkChanged(False)
        assert not link.connected
        link.request("after", lookup)
        assert events.q.get_nowait() == HubTimedOut("after")  # posted before request() returned
        proxy.restore()
        assert events.wait(lambda e: isinstance(e, LinkChanged), timeout=10) == LinkChanged(True)
        assert link.connected
    finally:
        proxy.close()


def test_blocklist_is_fetched_on_connect(lab, broker, events, links) -> None:
    hub = FakeHub(lab, broker)
    try:
        make_link(lab, broker.url, events, links, new_kiosk_id(), fetch_blocklist=True)
        update = events.wait(lambda e: isinstance(e, BlocklistUpdated))
        assert update == BlocklistUpdated(frozenset({"ab" * 32}), 3, salt="cd" * 16)
    finally:
        hub.close()


# ---- state, commands, telemetry ----


def test_retained_state_is_online_then_offline_after_the_kiosk_is_killed(lab, broker) -> None:
    kiosk_id = new_kiosk_id()
    tls = kiosk_tls(lab, kiosk_id, LIBRARY)
    script = textwrap.dedent(
        f"""
        import sys, queue, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from firmware.hub_link import HubLink
        from firmware.hub_link.connection import TlsFiles
        from firmware.core.events import LinkChanged
        q = queue.Queue()
        tls = TlsFiles(Path({str(tls.ca)!r}), Path({str(tls.cert)!r}), Path({str(tls.key)!r}))
        link = HubLink({broker.url!r}, {kiosk_id!r}, {LIBRARY!r}, q.put,
                       firmware_version="9.9", fetch_blocklist=False, tls=tls)
        link.start()
        while q.get(timeout=10) != LinkChanged(True):
            pass
        print("up", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        topic = topics.topic(kiosk_id, "state")
        online = read_retained(lab, broker, topic)
        assert online is not None
        assert messages.parse(KioskState, online).state == "online"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        deadline = time.monotonic() + 5
        state = None
        while time.monotonic() < deadline:
            raw = read_retained(lab, broker, topic)
            state = messages.parse(KioskState, raw) if raw else None
            if state is not None and state.state == "offline":
                break
            time.sleep(0.1)
        assert state is not None and state.state == "offline"
        assert state.firmware == "9.9"
    finally:
        proc.kill()
        proc.wait()


def test_stop_says_offline_and_maintenance_is_retained(lab, broker, events, links) -> None:
    kiosk_id = new_kiosk_id()
    link = make_link(lab, broker.url, events, links, kiosk_id)
    link.publish_state("maintenance")
    topic = topics.topic(kiosk_id, "state")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        raw = read_retained(lab, broker, topic)
        if raw and messages.parse(KioskState, raw).state == "maintenance":
            break
    else:
        raise AssertionError("maintenance state not retained")
    link.stop()
    raw = read_retained(lab, broker, topic)
    assert raw is not None and messages.parse(KioskState, raw).state == "offline"


def test_valid_commands_are_posted_and_invalid_ones_ignored(
    lab, broker, events, links, caplog
) -> None:
    kiosk_id = new_kiosk_id()
    hub = FakeHub(lab, broker)
    try:
        link = make_link(lab, broker.url, events, links, kiosk_id)
        cmd_topic = topics.topic(kiosk_id, "cmd")
        hub.client.publish(cmd_topic, b"not json", qos=1)
        hub.client.publish(cmd_topic, b'{"v":1,"cmd":"self_destruct","cmd_id":"x"}', qos=1)
        hub.publish_signed(cmd_topic, Command(cmd="selftest", cmd_id="c-42"))
        assert events.wait(lambda e: isinstance(e, CommandReceived)) == CommandReceived(
            "selftest", "c-42"
        )
        assert "ignored a message" in caplog.text
        link.publish_command_result(CommandResult(cmd_id="c-42", ok=True))
        deadline = time.monotonic() + 3
        while topics.topic(kiosk_id, "cmd/result") not in hub.topics:
            assert time.monotonic() < deadline, "no command result published"
            time.sleep(0.02)
    finally:
        hub.close()


def test_telemetry_carries_the_journal_depth(lab, broker, events, links, tmp_path) -> None:
    kiosk_id = new_kiosk_id()
    got: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    spy = secure_client(lab, broker, "hub-spy")  # only a hub identity may read telemetry
    spy.on_message = lambda _c, _u, m: got.put(m.payload)
    spy.on_subscribe = lambda _c, _u, _m, reasons, _p: (
        None if any(r.is_failure for r in reasons) else subscribed.set()
    )
    host, port = host_port(broker.url)
    spy.connect(host, port)
    spy.subscribe(topics.topic(kiosk_id, "telemetry"), 0)
    spy.loop_start()
    assert subscribed.wait(5), "the spy's subscription was not granted"
    try:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            fill(journal, kiosk_id, 3)  # nobody acks: they stay pending
            make_link(
                lab, broker.url, events, links, kiosk_id, journal=journal, telemetry_interval_s=0.2
            )
            tele = messages.parse(messages.Telemetry, got.get(timeout=3))
            assert tele.journal_pending == 3
            assert events.wait(lambda e: isinstance(e, JournalDepth)).pending == 3
            links[-1].stop()
    finally:
        spy.disconnect()
        spy.loop_stop()


# ---- the outbox ----


def test_rows_are_published_in_order_and_acked_only_on_the_hubs_ack(
    lab, broker, events, links, tmp_path
) -> None:
    kiosk_id = new_kiosk_id()
    hub = FakeHub(lab, broker, ack=False)
    try:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            ids = fill(journal, kiosk_id, 250)
            link = make_link(lab, broker.url, events, links, kiosk_id, journal=journal, window=100)
            deadline = time.monotonic() + 5
            while len(hub.txn_ids) < 100:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(0.2)
            # the window holds: 100 published, PUBACKed by the broker, none acked by the hub
            assert hub.txn_ids == ids[:100]
            assert journal.counts()["sent"] == 100 and journal.depth() == 250
            hub.release(kiosk_id)
            acked = [events.wait(lambda e: isinstance(e, TxnAcked)).txn_id for _ in range(250)]
            assert sorted(acked) == ids
            assert hub.txn_ids == ids
            assert journal.depth() == 0
            # new rows are sent promptly after notify_new_txn
            more = fill(journal, kiosk_id, 1)
            link.notify_new_txn()
            assert events.wait(lambda e: isinstance(e, TxnAcked), timeout=2).txn_id == more[0]
            link.stop()
    finally:
        hub.close()


def test_broker_restart_mid_backlog_ends_with_every_row_acked_once(
    lab, own_broker, events, links, tmp_path
) -> None:
    kiosk_id = new_kiosk_id()
    n = 3000
    hub = FakeHub(lab, own_broker, persistent=True)
    try:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            ids = fill(journal, kiosk_id, n)
            make_link(
                lab, own_broker.url, events, links, kiosk_id, journal=journal, resend_after_s=2.0
            )
            acked: list[str] = []
            while len(acked) < 200:
                acked.append(events.wait(lambda e: isinstance(e, TxnAcked)).txn_id)
            own_broker.stop()
            events.wait(lambda e: e == LinkChanged(False))
            assert journal.depth() > 0, "the broker stopped mid-backlog"
            time.sleep(0.3)
            own_broker.start()
            deadline = time.monotonic() + 30
            while journal.depth():
                assert time.monotonic() < deadline, f"{journal.depth()} rows still unacked"
                time.sleep(0.05)
            acked += [e.txn_id for e in events.drain(0.3) if isinstance(e, TxnAcked)]
            assert len(acked) == len(set(acked)) == n
            assert sorted(acked) == ids
            assert journal.counts()["acked"] == n
            links[-1].stop()
    finally:
        hub.close()


def test_the_configured_retention_prunes_the_kiosks_journal(tmp_path) -> None:
    """`journal.prune_acked_after_days` reaches the link that firmware.assembly builds."""
    from firmware.config import load_config
    from kiosk_tools.simulated import build_simulated_kiosk

    kiosk_id = new_kiosk_id()
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as journal:
        old, recent, newest = fill(journal, kiosk_id, 3)
        journal.mark_acked(Ack(txn_id=old, result="committed"), now=time.time() - 3 * 86400)
        journal.mark_acked(Ack(txn_id=recent, result="committed"), now=time.time() - 1 * 86400)
    config = load_config(
        None,
        {
            "hub.broker": "mqtt://127.0.0.1:9",  # nobody there: pruning needs no hub
            "kiosk.id": kiosk_id,
            "journal.prune_acked_after_days": 2,
        },
    )
    kiosk = build_simulated_kiosk(config, journal_path=path)
    try:
        kiosk.link.start()
        deadline = time.monotonic() + 5
        while kiosk.journal.counts()["acked"] != 1:
            assert time.monotonic() < deadline, "acked rows were not pruned"
            time.sleep(0.05)
        assert [
            r.txn.txn_id for r in kiosk.journal.rows_for_item(txn(recent, kiosk_id, 1).item)
        ] == [recent]
        assert kiosk.journal.last_txn_id() == newest
    finally:
        kiosk.stop()


def test_no_card_number_appears_in_any_topic(lab, broker, events, links, tmp_path) -> None:
    kiosk_id = new_kiosk_id()
    hub = FakeHub(lab, broker)
    try:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            fill(journal, kiosk_id, 5)
            link = make_link(
                lab, broker.url, events, links, kiosk_id, journal=journal, telemetry_interval_s=0.1
            )
            link.request(
                "c",
                ReaderLookup(
                    op="reader_lookup",
                    card=CardRef(scheme="joint", number=CARD),
                    library_id="dongcheng",
                ),
            )
            events.wait(lambda e: isinstance(e, HubAnswered))
            for _ in range(5):
                events.wait(lambda e: isinstance(e, TxnAcked))
            # Telemetry twice (every 0.1 s): every kind of message the link sends has gone.
            telemetry = topics.topic(kiosk_id, "telemetry")
            deadline = time.monotonic() + 5
            while hub.topics.count(telemetry) < 2:
                assert time.monotonic() < deadline, f"no telemetry; topics {set(hub.topics)}"
                time.sleep(0.02)
            link.stop()
        seen = set(hub.topics)
        assert topics.topic(kiosk_id, "txn") in seen
        assert topics.topic(kiosk_id, "req") in seen
        assert topics.topic(kiosk_id, "resp") in seen
        assert topics.topic(kiosk_id, "state") in seen
        assert not [t for t in seen if CARD in t]
    finally:
        hub.close()


def test_a_failing_journal_is_reported_once_and_the_link_keeps_running(
    lab, broker, events, links, tmp_path
) -> None:
    journal = Journal.open(tmp_path / "j.sqlite3")
    journal.close()  # every later call fails like an I/O error would
    link = make_link(lab, broker.url, events, links, new_kiosk_id(), journal=journal)
    failed = events.wait(lambda e: isinstance(e, JournalFailed))
    assert failed.code == "journal-io"
    assert not [e for e in events.drain(0.3) if isinstance(e, JournalFailed)]
    assert link.connected
