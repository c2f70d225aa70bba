"""Signed hub messages (issue 10, item 3), attacked on a plain anonymous Mosquitto: the
real kiosk link holding the hub's public key, the real hub worker holding its signing
key, and an attacker with nothing but an anonymous paho client, who can read and write
every topic. What the kiosk must never act on, and what must still work."""

from __future__ import annotations

import logging
import queue
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, signing, topics
from contract.messages import Ack, Blocklist, Command, Response, Txn
from firmware.config import load_config
from firmware.core.events import (
    CommandReceived,
    HubAnswered,
    HubTimedOut,
    LinkChanged,
    TxnAcked,
)
from firmware.hub_link import HubLink
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hub.__main__ import main as hub_main
from hub.config import HubConfig
from hub.lab.broker_process import MosquittoProcess
from hub.pki.pki import init_pki, write_pin_pepper, write_signing_key
from hub.pki.pki_files import PkiPaths
from hub.rules.registry import Registry, load_registry
from hub.worker.service import HubService
from hub.worker.signer import HubSigner
from tests.firmware.test_hub_link import Events  # what the link posts, waited for by kind

LIBRARY = "capital"


@pytest.fixture(scope="module")
def anonymous_broker() -> Iterator[MosquittoProcess]:
    """A private plain mqtt:// Mosquitto, anonymous, no ACL: the misconfigured broker."""
    # Plain on purpose (not the lab's TLS `broker`): what is shown here must hold even on
    # a misconfigured, anonymous broker. Private to the module (not the session's
    # `plain_broker`), so the attacker sees no retained message another test left.
    proc = MosquittoProcess().start()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    paths = PkiPaths(tmp_path_factory.mktemp("pki"))
    write_signing_key(paths)
    write_pin_pepper(paths)
    return paths


@pytest.fixture(scope="module")
def hub_public_key(pki: PkiPaths) -> signing.Ed25519PublicKey:
    return signing.load_public_key(pki.hub_signing_pub)


class Attacker:
    """An anonymous client: reads everything under the prefix, publishes anything."""

    def __init__(self, url: str) -> None:
        self.seen: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        host, port = url.removeprefix("mqtt://").split(":")
        ready = queue.Queue()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"evil-{secrets.token_hex(3)}", protocol=mqtt.MQTTv5
        )
        c.on_connect = lambda cl, *_: cl.subscribe(f"{topics.PREFIX}/#", qos=1)
        c.on_subscribe = lambda *_: ready.put(True)
        c.on_message = lambda _c, _u, msg: self.seen.put(msg)
        c.connect(host, int(port))
        c.loop_start()
        ready.get(timeout=5)
        self.client = c

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        corr: bytes | None = None,
        user: list[tuple[str, str]] | None = None,
        retain: bool = False,
    ) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if corr is not None:
            props.CorrelationData = corr
        for pair in user or []:
            props.UserProperty = pair
        self.client.publish(topic, payload, qos=1, retain=retain, properties=props).wait_for_publish(5)

    def capture(self, topic: str, timeout: float = 5.0) -> mqtt.MQTTMessage:
        """The next message seen on `topic` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.seen.get(timeout=left)
            except queue.Empty:
                break
            if msg.topic == topic:
                return msg
        raise AssertionError(f"nothing seen on {topic} within {timeout}s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def user_properties(msg: mqtt.MQTTMessage) -> list[tuple[str, str]]:
    return list(getattr(msg.properties, "UserProperty", []) or [])


def foreign_signature(kiosk_id: str, leaf: str, message_id: str | bytes, payload: bytes) -> list[tuple[str, str]]:
    """A well-formed signature by a key that is not the hub's."""
    key = signing.Ed25519PrivateKey.generate()
    exp = int(time.time()) + 600
    return signing.sign(key, kiosk_id, leaf, message_id, payload, exp=exp).user_properties()


@pytest.fixture
def attacker(anonymous_broker: MosquittoProcess) -> Iterator[Attacker]:
    evil = Attacker(anonymous_broker.url)
    yield evil
    evil.close()


@pytest.fixture
def start_hub(
    anonymous_broker: MosquittoProcess, registry: Registry, pki: PkiPaths, tmp_path: Path
) -> Iterator[Callable[[], HubService]]:
    """Starts a real hub worker with the signing key, on demand (some attacks need the hub
    away). Retired at the end, so it leaves no session in the share group."""
    started: list[HubService] = []

    def start() -> HubService:
        # session_expiry_s=0: a worker a test stops leaves no session taking turns in the share.
        config = HubConfig(signing_key=pki.hub_signing_key, pin_pepper_file=pki.pin_pepper, session_expiry_s=0)
        name = f"sig-{secrets.token_hex(3)}"
        service = HubService(
            anonymous_broker.url, f"sqlite:///{tmp_path}/hub.sqlite", registry, name, config=config
        ).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.retire()


class Kiosk:
    """A real kiosk HubLink with a journal, holding the hub's public key."""

    def __init__(self, url: str, tmp_path: Path, key: signing.Ed25519PublicKey | None) -> None:
        self.kiosk_id = f"k-{secrets.token_hex(4)}"
        self.events = Events()
        self.journal = Journal.open(tmp_path / f"{self.kiosk_id}.sqlite3")
        self._ids = TxnIdFactory(self.kiosk_id, self.journal.last_txn_id())
        self.link = HubLink(
            url,
            self.kiosk_id,
            LIBRARY,
            self.events.post,
            firmware_version="test",
            journal=self.journal,
            resend_after_s=0.5,
            request_timeout_s=1.5,
            fetch_blocklist=False,
            hub_public_key=key,
        )

    def start(self) -> Kiosk:
        self.link.start()
        self.events.wait(lambda e: e == LinkChanged(True))
        return self

    def record_return(self, txn_id: str | None = None) -> str:
        txn_id = txn_id or self._ids.next_id()
        self.journal.record(
            Txn(
                txn_id=txn_id,
                kiosk_id=self.kiosk_id,
                library_id=LIBRARY,
                kind="return",
                item="3010100000001",
                at=datetime.now(UTC),
                mode="offline",
            )
        )
        self.link.notify_new_txn()
        return txn_id

    def wait_sent(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.journal.counts().get("sent", 0) < 1:
            assert time.monotonic() < deadline, "the row was never published"
            time.sleep(0.02)

    def topic(self, leaf: str) -> str:
        return topics.topic(self.kiosk_id, leaf)

    def close(self) -> None:
        self.link.stop()
        self.journal.close()


@pytest.fixture
def kiosks(
    anonymous_broker: MosquittoProcess, tmp_path: Path, hub_public_key: signing.Ed25519PublicKey
) -> Iterator[Callable[[], Kiosk]]:
    made: list[Kiosk] = []

    def make() -> Kiosk:
        kiosk = Kiosk(anonymous_broker.url, tmp_path, hub_public_key)
        made.append(kiosk)
        return kiosk

    yield make
    for kiosk in made:
        kiosk.close()


def acked(events: Events) -> list[object]:
    return [e for e in events.drain(1.0) if isinstance(e, TxnAcked)]


# ---- acks ---------------------------------------------------------------------------


def test_a_forged_committed_ack_does_not_mark_the_row_acked_and_the_hubs_own_ack_does(
    kiosks, attacker: Attacker, start_hub, caplog
) -> None:
    kiosk = kiosks().start()
    txn_id = kiosk.record_return()
    kiosk.wait_sent()  # no hub yet: the row waits for its ack
    forged = messages.encode(Ack(txn_id=txn_id, result="committed"))
    with caplog.at_level(logging.WARNING, logger="firmware.hub_link.trust"):
        attacker.publish(kiosk.topic("ack"), forged)  # unsigned
        attacker.publish(kiosk.topic("ack"), forged, user=[("sig", "AAAA"), ("exp", "9999999999")])
        attacker.publish(
            kiosk.topic("ack"), forged, user=foreign_signature(kiosk.kiosk_id, "ack", txn_id, forged)
        )
        assert acked(kiosk.events) == []
    assert kiosk.journal.depth() == 1
    reasons = [
        r.getMessage().rsplit(": ", 1)[1] for r in caplog.records if r.name == "firmware.hub_link.trust"
    ]
    assert reasons == ["unsigned", "malformed", "bad-signature"]

    start_hub()  # the real hub: its signed ack is believed
    event = kiosk.events.wait(lambda e: isinstance(e, TxnAcked), timeout=10)
    assert event.txn_id == txn_id
    assert kiosk.journal.depth() == 0


def test_a_genuine_ack_replayed_for_another_txn_or_another_kiosk_is_ignored(
    kiosks, attacker: Attacker, start_hub
) -> None:
    hub = start_hub()
    victim = kiosks().start()
    first = victim.record_return()
    genuine = attacker.capture(victim.topic("ack"), timeout=10)
    victim.events.wait(lambda e: isinstance(e, TxnAcked))  # the hub's own ack works
    sig = user_properties(genuine)
    assert sorted(name for name, _ in sig) == ["exp", "sig"]
    hub.stop()  # from now on only the attacker acks

    # The hub's signature, on a payload naming the victim's next row.
    second = victim.record_return()
    victim.wait_sent()
    attacker.publish(victim.topic("ack"), messages.encode(Ack(txn_id=second, result="committed")), user=sig)
    # The genuine bytes and signature, on the topic of a kiosk holding the same txn_id.
    other = kiosks().start()
    other.record_return(txn_id=first)
    other.wait_sent()
    attacker.publish(other.topic("ack"), genuine.payload, user=sig)

    assert acked(victim.events) == [] and acked(other.events) == []
    assert victim.journal.depth() == 1 and other.journal.depth() == 1


def test_an_expired_signed_ack_is_ignored(kiosks, attacker: Attacker, pki: PkiPaths) -> None:
    kiosk = kiosks().start()
    txn_id = kiosk.record_return()
    kiosk.wait_sent()
    key = signing.load_private_key(pki.hub_signing_key)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    old_signer = HubSigner(key, dict(signing.DEFAULT_TTL_S), clock=lambda: long_ago)
    ack = Ack(txn_id=txn_id, result="committed")
    payload = messages.encode(ack)
    props = old_signer.properties_for(kiosk.topic("ack"), ack, payload)
    attacker.publish(kiosk.topic("ack"), payload, user=props.UserProperty)
    assert acked(kiosk.events) == []
    assert kiosk.journal.depth() == 1


# ---- answers ------------------------------------------------------------------------


def test_a_forged_answer_with_the_right_correlation_id_is_ignored(
    kiosks, attacker: Attacker
) -> None:
    kiosk = kiosks().start()  # no hub: only the attacker could answer
    kiosk.link.request("r1", Blocklist(op="blocklist"))
    request = attacker.capture(kiosk.topic("req"))
    corr = bytes(request.properties.CorrelationData)  # read off the wire: not guessed
    forged = messages.encode(Response(ok=True, blocked_hashes=[], offline_max_items=99))
    attacker.publish(kiosk.topic("resp"), forged, corr=corr)
    attacker.publish(
        kiosk.topic("resp"), forged, corr=corr, user=foreign_signature(kiosk.kiosk_id, "resp", corr, forged)
    )
    assert kiosk.events.wait(lambda e: isinstance(e, HubAnswered | HubTimedOut)) == HubTimedOut("r1")


def test_the_hubs_answer_replayed_for_another_correlation_id_or_kiosk_is_ignored(
    kiosks, attacker: Attacker, start_hub
) -> None:
    hub = start_hub()
    kiosk, other = kiosks().start(), kiosks().start()
    kiosk.link.request("r1", Blocklist(op="blocklist"))
    answered = kiosk.events.wait(lambda e: isinstance(e, HubAnswered | HubTimedOut))
    assert isinstance(answered, HubAnswered) and answered.corr_id == "r1"  # the hub's own works
    genuine = attacker.capture(kiosk.topic("resp"))
    hub.stop()  # from now on only the attacker answers

    kiosk.link.request("r2", Blocklist(op="blocklist"))
    corr = bytes(attacker.capture(kiosk.topic("req")).properties.CorrelationData)
    attacker.publish(kiosk.topic("resp"), genuine.payload, corr=corr, user=user_properties(genuine))
    assert kiosk.events.wait(lambda e: isinstance(e, HubAnswered | HubTimedOut)) == HubTimedOut("r2")

    other.link.request("r1", Blocklist(op="blocklist"))
    corr = bytes(attacker.capture(other.topic("req")).properties.CorrelationData)
    attacker.publish(other.topic("resp"), genuine.payload, corr=corr, user=user_properties(genuine))
    attacker.publish(
        other.topic("resp"),
        genuine.payload,
        corr=bytes(genuine.properties.CorrelationData),
        user=user_properties(genuine),
    )
    assert other.events.wait(lambda e: isinstance(e, HubAnswered | HubTimedOut)) == HubTimedOut("r1")


# ---- commands -----------------------------------------------------------------------


def test_forged_retained_and_replayed_maintenance_commands_are_ignored_and_the_hubs_obeyed(
    anonymous_broker: MosquittoProcess,
    tmp_path: Path,
    hub_public_key: signing.Ed25519PublicKey,
    attacker: Attacker,
    start_hub,
    pki: PkiPaths,
) -> None:
    kiosk = Kiosk(anonymous_broker.url, tmp_path, hub_public_key)
    cmd = Command(cmd="maintenance_on", cmd_id="evil-1")
    payload = messages.encode(cmd)
    # Retained before the kiosk subscribes, even one the hub's key signed: the hub never
    # retains a command, so a retained one is somebody's replay at every subscribe.
    signer = HubSigner(signing.load_private_key(pki.hub_signing_key), dict(signing.DEFAULT_TTL_S))
    signed = signer.properties_for(kiosk.topic("cmd"), cmd, payload)
    attacker.publish(kiosk.topic("cmd"), payload, user=signed.UserProperty, retain=True)
    try:
        kiosk.start()
        attacker.publish(kiosk.topic("cmd"), payload)  # unsigned
        attacker.publish(
            kiosk.topic("cmd"), payload, user=foreign_signature(kiosk.kiosk_id, "cmd", cmd.cmd_id, payload)
        )
        assert [e for e in kiosk.events.drain(1.0) if isinstance(e, CommandReceived)] == []

        hub = start_hub()
        sent = hub.send_command(kiosk.kiosk_id, "maintenance_on")
        got = kiosk.events.wait(lambda e: isinstance(e, CommandReceived))
        assert got == CommandReceived("maintenance_on", sent.cmd_id)
        genuine = attacker.capture(kiosk.topic("cmd"))
        while bytes(genuine.payload) != messages.encode(sent):
            genuine = attacker.capture(kiosk.topic("cmd"))
        attacker.publish(kiosk.topic("cmd"), genuine.payload, user=user_properties(genuine))  # replay
        assert [e for e in kiosk.events.drain(1.0) if isinstance(e, CommandReceived)] == []
    finally:
        attacker.publish(kiosk.topic("cmd"), b"", retain=True)  # clear the retained message
        kiosk.close()


# ---- without a key, and the key files -----------------------------------------------


def test_without_the_hub_key_the_kiosk_says_once_that_hub_messages_are_not_verified(
    anonymous_broker: MosquittoProcess, tmp_path: Path, caplog
) -> None:
    kiosk = Kiosk(anonymous_broker.url, tmp_path, None)
    try:
        with caplog.at_level(logging.WARNING, logger="firmware.hub_link.link"):
            kiosk.start()
        assert [r.getMessage() for r in caplog.records if "not verified" in r.getMessage()] != []
        assert len([r for r in caplog.records if "not verified" in r.getMessage()]) == 1
    finally:
        kiosk.close()


def test_a_signing_key_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    paths = PkiPaths(tmp_path / "pki")
    write_signing_key(paths)
    assert stat.S_IMODE(paths.hub_signing_key.stat().st_mode) == 0o600
    paths.hub_signing_key.chmod(0o640)
    with pytest.raises(signing.KeyFileError, match=r"mode 0640.*chmod 600"):
        signing.load_private_key(paths.hub_signing_key)
    with pytest.raises(signing.KeyFileError, match="no such file"):
        signing.load_private_key(tmp_path / "missing.key")
    with pytest.raises(signing.KeyFileError, match="not a PEM public key"):
        bad = tmp_path / "bad.pub"
        bad.write_text("hello")
        bad.chmod(0o600)
        signing.load_public_key(bad)


def test_pki_init_makes_the_signing_key_and_enroll_gives_the_kiosk_its_public_half(
    tmp_path: Path,
) -> None:
    pki = tmp_path / "pki"
    paths = init_pki(pki)
    assert paths.hub_signing_key.exists() and paths.hub_signing_pub.exists()
    out = tmp_path / "k1"
    assert hub_main(["enroll", "k1", "--library", LIBRARY, "--out", str(out), "--pki", str(pki)]) == 0
    config = load_config(out / "kiosk.toml")
    assert config.hub.hub_public_key == out / "hub-signing.pub"
    assert signing.load_public_key(config.hub.hub_public_key).public_bytes_raw() == (
        signing.load_private_key(paths.hub_signing_key).public_key().public_bytes_raw()
    )


def test_the_hub_refuses_to_start_with_an_unusable_signing_key(tmp_path: Path, capsys) -> None:
    toml = tmp_path / "hub.toml"
    toml.write_text(f'[hub]\nsigning_key = "{tmp_path / "nope.key"}"\n')
    assert hub_main(["--config", str(toml), "status"]) == 2
    assert "hub.signing_key" in capsys.readouterr().err


def test_signed_fields_are_length_prefixed_so_they_cannot_be_shifted() -> None:
    """("k1", "ack") and ("k", "1ack") must not share a signature."""
    assert signing.signed_bytes("k1", "ack", "x", 1, b"{}") != signing.signed_bytes(
        "k", "1ack", "x", 1, b"{}"
    )


@pytest.mark.parametrize("with_key", [True, False])
def test_the_kiosk_built_from_its_config_verifies_exactly_when_the_key_is_configured(
    tmp_path: Path, pki: PkiPaths, with_key: bool
) -> None:
    from kiosk_tools.simulated import build_simulated_kiosk

    overrides = {"hub.hub_public_key": str(pki.hub_signing_pub)} if with_key else {}
    kiosk = build_simulated_kiosk(load_config(None, overrides), journal_path=tmp_path / "j.sqlite3")
    try:
        assert kiosk.link.verifies_hub_messages is with_key
    finally:
        kiosk.stop()


def test_the_kiosk_refuses_a_hub_key_others_can_write_at_load(tmp_path: Path, pki: PkiPaths) -> None:
    from contract.settings import ConfigError

    key = tmp_path / "hub-signing.pub"
    key.write_bytes(pki.hub_signing_pub.read_bytes())
    key.chmod(0o666)
    with pytest.raises(ConfigError, match=r"hub\.hub_public_key: .*can write it \(mode 0666\)"):
        load_config(None, {"hub.hub_public_key": str(key)})
