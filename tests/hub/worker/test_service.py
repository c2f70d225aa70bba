"""The hub worker over the alliance's secure Mosquitto (the lab's: TLS, client
certificates, the roles), as its lab identity with the signing key and the enrolment
check: acks, request answers, fleet status, commands, and the `python -m hub` command
line. Each test kiosk is enrolled and connects as itself."""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, privacy, topics
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.secure_clients import hub_settings, secure_client

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


class Kiosk:
    """A bare MQTT kiosk, enrolled for `library_id` and connected as itself: publishes
    txns and requests, collects acks and answers."""

    def __init__(self, lab: Lab, broker: MosquittoProcess, kiosk_id: str, library_id: str = "capital") -> None:
        self.kiosk_id = kiosk_id
        self.acks: queue.Queue[messages.Ack] = queue.Queue()
        self.cmds: queue.Queue[messages.Command] = queue.Queue()
        self._pending: dict[bytes, queue.Queue[messages.Response]] = {}
        self._ready = threading.Event()
        c = secure_client(lab, broker, kiosk_id, library_id)
        c.on_socket_open = lambda cl, ud, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(
            [(topics.topic(kiosk_id, leaf), 1) for leaf in ("ack", "resp", "cmd")])
        c.on_subscribe = lambda *a: self._ready.set()
        c.on_message = self._on_message
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert self._ready.wait(5)
        self.client = c

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/ack"):
            self.acks.put(messages.Ack.model_validate_json(msg.payload))
        elif msg.topic.endswith("/cmd"):
            self.cmds.put(messages.Command.model_validate_json(msg.payload))
        else:
            corr = getattr(msg.properties, "CorrelationData", b"")
            box = self._pending.get(corr)
            if box is not None:
                box.put(messages.Response.model_validate_json(msg.payload))

    def publish(self, leaf: str, payload: bytes | messages._Msg, qos: int = 1) -> None:
        raw = payload if isinstance(payload, bytes) else messages.encode(payload)
        self.client.publish(topics.topic(self.kiosk_id, leaf), raw, qos=qos).wait_for_publish(5)

    def request(self, payload: bytes | messages._Msg, timeout: float = 5.0) -> messages.Response:
        corr = secrets.token_bytes(8)
        box: queue.Queue[messages.Response] = queue.Queue()
        self._pending[corr] = box
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.topic(self.kiosk_id, "resp")
        props.CorrelationData = corr
        raw = payload if isinstance(payload, bytes) else messages.encode(payload)
        self.client.publish(topics.topic(self.kiosk_id, "req"), raw, qos=1, properties=props)
        try:
            return box.get(timeout=timeout)
        finally:
            self._pending.pop(corr, None)

    def ack(self, timeout: float = 5.0) -> messages.Ack:
        return self.acks.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('hub')}/hub.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=30)
    return url


@pytest.fixture(scope="module")
def hub(lab: Lab, broker: MosquittoProcess, seeded_db: str, registry: Registry) -> Iterator[HubService]:
    config = hub_settings(lab, "test-service")
    service = HubService(broker.url, seeded_db, registry, "test-service", config=config).start()
    yield service
    service.retire()  # leave no session behind on the shared broker


@pytest.fixture
def kiosk(lab: Lab, broker: MosquittoProcess, hub: HubService) -> Iterator[Kiosk]:
    k = Kiosk(lab, broker, f"k-{secrets.token_hex(4)}")
    yield k
    k.close()


def demo(registry: Registry, scheme: str, state: str = "valid", why: str | None = None) -> catalogue.DemoReader:
    return next(r for r in catalogue.generate_readers(registry)
                if r.scheme == scheme and r.state == state and r.block_reason == why)


def card(r: catalogue.DemoReader) -> messages.CardRef:
    return messages.CardRef(scheme=r.scheme, number=r.number)


def valid_lookup(registry: Registry, library_id: str = "capital") -> messages.ReaderLookup:
    """A lookup of the first valid Beijing joint card: answered `valid` at `library_id`."""
    return messages.ReaderLookup(op="reader_lookup", card=card(demo(registry, "bj-joint")), library_id=library_id)


def txn(kiosk: Kiosk, kind: str, item: str, ref: messages.CardRef | None, library: str = "capital",
        **extra: Any) -> messages.Txn:
    return messages.Txn(txn_id=f"{kiosk.kiosk_id}-{secrets.token_hex(6)}", kiosk_id=kiosk.kiosk_id,
                        library_id=library, kind=kind, card=ref, item=item, at=datetime.now(UTC),
                        mode="online", **extra)


def test_a_valid_reader_is_greeted_with_a_masked_name_and_allowance_after_the_right_pin(
    kiosk: Kiosk, registry: Registry
) -> None:
    reader = demo(registry, "bj-joint")
    resp = kiosk.request(messages.ReaderLookup(op="reader_lookup", card=card(reader), library_id="capital"))
    assert resp.ok and resp.state == "valid" and resp.allowed
    assert resp.pin_required is registry.scheme("bj-joint").pin_required is True
    assert resp.masked_name is None and resp.loans is None  # nothing of the reader before the PIN
    right = kiosk.request(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin))
    assert right.masked_name == "王*明" and reader.name not in right.model_dump_json()
    assert right.items_left == registry.scheme("bj-joint").max_items - len(right.loans or [])


@pytest.mark.parametrize(
    ("state", "why", "code"),
    [("expired", None, "card_expired"), ("blocked", "lost", "card_blocked_lost")],
)
def test_expired_and_blocked_cards_are_told_why_in_both_languages(
    kiosk: Kiosk, registry: Registry, state: str, why: str | None, code: str
) -> None:
    reader = demo(registry, "bj-joint", state, why)
    resp = kiosk.request(messages.ReaderLookup(op="reader_lookup", card=card(reader), library_id="capital"))
    assert (resp.state, resp.allowed, resp.reason_code) == (state, False, code)
    assert resp.message is not None and resp.message.zh and resp.message.en


def test_an_unknown_card_is_unknown(kiosk: Kiosk) -> None:
    from contract.card_schemes import make_card_number

    ref = messages.CardRef(scheme="bj-joint", number=make_card_number("bj-joint", 99999999))
    resp = kiosk.request(messages.ReaderLookup(op="reader_lookup", card=ref, library_id="capital"))
    assert (resp.state, resp.reason_code) == ("unknown", "card_unknown")


def test_pin_check_counts_down_attempts(kiosk: Kiosk, registry: Registry) -> None:
    reader = demo(registry, "univ-public")
    wrong = "0000000"[: len(reader.pin)] if reader.pin != "000000" else "111111"
    bad = kiosk.request(messages.PinCheck(op="pin_check", card=card(reader), pin=wrong))
    assert bad.pin_ok is False and bad.attempts_left == 4 and bad.reason_code == "pin_wrong"
    good = kiosk.request(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin))
    assert good.pin_ok is True


def test_checkout_auth_gives_title_and_due_or_a_bilingual_refusal(kiosk: Kiosk, registry: Registry) -> None:
    reader = demo(registry, "nlc")
    book = catalogue.item_barcode(registry, "dongcheng", 3)
    pin = kiosk.request(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin))
    token = pin.session_token
    outside = kiosk.request(messages.CheckoutAuth(op="checkout_auth", card=card(reader), item=book, library_id="capital"))
    assert (outside.allowed, outside.reason_code) == (False, "session_required")  # no token, no answer
    ok = kiosk.request(messages.CheckoutAuth(
        op="checkout_auth", card=card(reader), item=book, library_id="capital", session_token=token))
    assert ok.allowed and ok.due is not None and ok.title
    no = kiosk.request(messages.CheckoutAuth(
        op="checkout_auth", card=card(reader), item=book, library_id="dongcheng", session_token=token))
    assert (no.allowed, no.reason_code) == (False, "scheme_not_accepted")
    assert no.message.zh and no.message.en and no.title == ok.title


def test_return_route_names_the_home_library_in_both_languages(kiosk: Kiosk, registry: Registry) -> None:
    book = catalogue.item_barcode(registry, "xicheng", 5)
    resp = kiosk.request(messages.ReturnRoute(op="return_route", item=book, library_id="capital"))
    assert (resp.route, resp.route_library) == ("transfer", "xicheng")
    member = registry.member("xicheng")
    assert resp.route_library_name == messages.Bilingual(zh=member.name_zh, en=member.name_en)


def test_blocklist_lists_hashes_never_numbers(kiosk: Kiosk, registry: Registry) -> None:
    resp = kiosk.request(messages.Blocklist(op="blocklist"))
    blocked = [r for r in catalogue.generate_readers(registry) if r.state != "valid"]
    assert resp.blocklist_salt is not None
    salted = {privacy.blocklist_hash(resp.blocklist_salt, r.scheme, r.number) for r in blocked}
    assert salted <= set(resp.blocked_hashes)
    assert not {r.card_hash for r in blocked} & set(resp.blocked_hashes)
    assert resp.offline_max_items and resp.offline_max_items > 0
    raw = resp.model_dump_json()
    assert not any(r.number in raw for r in blocked)


def test_a_loan_is_acked_with_the_hubs_due_date_and_a_repeat_is_a_duplicate(
    kiosk: Kiosk, hub: HubService, registry: Registry
) -> None:
    reader = demo(registry, "bj-joint")
    book = catalogue.item_barcode(registry, "capital", 7)
    pin = kiosk.request(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin))
    assert pin.pin_ok and pin.session_token  # an online loan follows the reader's right PIN
    t = txn(kiosk, "loan", book, card(reader), due=datetime(2099, 1, 1, tzinfo=UTC),
            session_token=pin.session_token)
    kiosk.publish("txn", t)
    first = kiosk.ack()
    kiosk.publish("txn", t)
    second = kiosk.ack()
    assert (first.txn_id, first.result, first.exception) == (t.txn_id, "committed", None)
    assert first.due is not None and first.due.year < 2099
    assert second.result == "duplicate" and second.due == first.due
    assert doors.txn_rows(hub.ledger, t.txn_id) == 1
    rows = kiosk.request(messages.LedgerQuery(op="ledger_query", txn_ids=[t.txn_id])).rows
    assert rows == {t.txn_id: 1}


def test_a_txn_naming_another_kiosk_than_its_topic_is_rejected(
    kiosk: Kiosk, hub: HubService, registry: Registry
) -> None:
    book = catalogue.item_barcode(registry, "capital", 8)
    t = txn(kiosk, "return", book, None).model_copy(update={"kiosk_id": "someone-else"})
    kiosk.publish("txn", t)
    ack = kiosk.ack()
    assert (ack.txn_id, ack.result) == (t.txn_id, "rejected")
    assert doors.txn_rows(hub.ledger, t.txn_id) == 0


def test_an_invalid_txn_with_a_txn_id_gets_a_rejection_naming_the_field(kiosk: Kiosk, hub: HubService) -> None:
    kiosk.publish("txn", json.dumps({"v": 1, "txn_id": "abcdefghijk1", "kind": "loan"}).encode())
    ack = kiosk.ack()
    assert ack.result == "rejected" and "kiosk_id" in (ack.reason or "")
    assert doors.txn_rows(hub.ledger, "abcdefghijk1") == 0


def _wait(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def test_state_and_telemetry_update_the_fleet_table(kiosk: Kiosk, hub: HubService) -> None:
    kiosk.publish("state", messages.KioskState(state="online", firmware="0.9", library_id="capital"))
    kiosk.publish("telemetry", messages.Telemetry(at=datetime.now(UTC), journal_pending=3, faults=["scanner-unplugged"]))

    def row() -> Any:
        found = [r for r in hub.ledger.fleet() if r.kiosk_id == kiosk.kiosk_id]
        return found[0] if found and found[0].journal_pending == 3 else None

    r = _wait(row)
    assert r is not None and (r.state, r.library_id, r.faults) == ("online", "capital", ["scanner-unplugged"])


def test_a_command_reaches_the_kiosk_and_its_result_comes_back(kiosk: Kiosk, hub: HubService) -> None:
    sent = hub.send_command(kiosk.kiosk_id, "selftest")
    got = kiosk.cmds.get(timeout=5)
    assert got == sent
    kiosk.publish("cmd/result", messages.CommandResult(cmd_id=sent.cmd_id, ok=True, detail={"devices": 3}))
    result = hub.command_result(sent.cmd_id, timeout=5)
    assert result is not None and result.ok and result.detail == {"devices": 3}


def test_a_request_gets_the_same_answer_over_the_wire_as_from_the_handler(
    kiosk: Kiosk, hub: HubService, registry: Registry
) -> None:
    """How fast is `make bench` (bench/hub_answers.py): a threshold here would be a
    benchmark that fails on a loaded machine."""
    reader = demo(registry, "bj-joint")
    lookup = messages.ReaderLookup(op="reader_lookup", card=card(reader), library_id="capital")
    direct = hub.intake.handle_request(kiosk.kiosk_id, messages.encode(lookup))
    assert direct.ok and direct.state == "valid" and direct.allowed
    assert kiosk.request(lookup) == direct


# ---------------------------------------------------------------------------- CLI


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_cli_demo_without_a_ledger_lists_readers_and_items_from_the_generator(tmp_path: Path) -> None:
    out = run_cli("demo", "--db", f"sqlite:///{tmp_path}/none.sqlite", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["source"] == "generator"
    assert {"scheme", "number", "pin", "state", "name"} <= set(data["readers"][0])
    assert {i["state"] for i in data["items"]} >= {"on_shelf", "on_loan", "on_hold"}
    assert not (tmp_path / "none.sqlite").exists()
    text = run_cli("demo", "--db", f"sqlite:///{tmp_path}/none.sqlite")
    assert text.returncode == 0 and "王小明" in text.stdout and "123456" in text.stdout


def test_cli_status_and_demo_read_the_ledger(seeded_db: str, hub: HubService, kiosk: Kiosk) -> None:
    kiosk.publish("state", messages.KioskState(state="maintenance", library_id="xicheng"))
    _wait(lambda: any(r.kiosk_id == kiosk.kiosk_id for r in hub.ledger.fleet()))
    out = run_cli("status", "--db", seeded_db, "--json")
    assert out.returncode == 0, out.stderr
    kiosks = {k["kiosk_id"]: k for k in json.loads(out.stdout)["kiosks"]}
    assert kiosks[kiosk.kiosk_id]["state"] == "maintenance"
    table = run_cli("status", "--db", seeded_db)
    assert table.returncode == 0 and kiosk.kiosk_id in table.stdout and "JOURNAL" in table.stdout
    demo_out = run_cli("demo", "--db", seeded_db, "--json")
    assert json.loads(demo_out.stdout)["source"] == "ledger"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--db", "mysql://x/y"], "unsupported database"),
        (["--db", "nonsense", "--broker", "mqtt://127.0.0.1:1"], "not a database URL"),
        (["--broker", "http://example", "--db", "sqlite:///var/never.sqlite"], "hub.broker: 'http://example' is not an mqtt://"),
    ],
)
def test_cli_bad_urls_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    out = run_cli(*args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_cli_status_without_a_ledger_exits_1(tmp_path: Path) -> None:
    out = run_cli("status", "--db", f"sqlite:///{tmp_path}/missing.sqlite")
    assert out.returncode == 1 and "no ledger" in out.stderr


def test_cli_worker_seeds_an_empty_ledger_serves_and_stops_on_sigterm(
    tmp_path: Path, registry: Registry, lab: Lab, own_broker: MosquittoProcess
) -> None:
    """`python -m hub --config` with a lab worker's settings, on a broker of its own (a
    stopped worker keeps its broker session, and with it a share of the messages)."""
    cfg = lab.hub_config("cli-test", seed_per_member=25)
    db = f"sqlite:///{tmp_path}/cli.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--config", str(cfg), "--broker", own_broker.url, "--db", db],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert "hub worker cli-test" in line
        k = Kiosk(lab, own_broker, "cli-kiosk")
        resp = k.request(messages.ReturnRoute(op="return_route", library_id="capital",
                                              item=catalogue.item_barcode(registry, "capital", 2)), timeout=10)
        assert resp.route == "shelve"
        k.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "seeded the demo catalogue" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Ledger.open(db) as led:
        assert led.count("items") == 25 * len(registry.members)
