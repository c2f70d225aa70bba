"""Hub-side checks on every txn and request (issue 10, item 4), as attacks that must fail:
a kiosk claiming offline loans the rules would not give, dated ahead of the hub's clock or
older than its offline window; kiosks the PKI did not enrol, or revoked, or speaking for
another library; a kiosk flooding the hub with requests; and a request asking the hub to
answer on another kiosk's `resp` topic. Real ledger on SQLite, the secure Mosquitto (the lab's)
for the last."""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import card_schemes, messages, topics
from hub.config import HubConfig
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.ledger.txn_checks import OfflineBounds
from hub.pki.kiosk_certs import enroll_kiosk, revoke_kiosk
from hub.pki.pki import init_pki
from hub.rules import rules
from hub.rules.registry import Registry, load_registry
from hub.worker.answers import RequestAnswers
from hub.worker.enrolment import Enrolment
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from hub.worker.rate_limit import RequestRateLimit
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.secure_clients import hub_settings, secure_client

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
KIOSK = "k-checks"


def make_intake(ledger: Ledger, registry: Registry, checks: IntakeChecks | None = None) -> Intake:
    answers = RequestAnswers(ledger, registry, lambda: NOW, rules.SHANGHAI, 3)
    return Intake(ledger, registry, answers, lambda: NOW, WorkerStats(), checks)


@pytest.fixture
def intake(ledger: Ledger, registry: Registry) -> Intake:
    return make_intake(ledger, registry)


def reader(ledger: Ledger, serial: int, scheme: str = "bj-joint") -> dict[str, str]:
    number = card_schemes.make_card_number(scheme, serial)
    ledger.add_reader(
        rules.ReaderRecord(scheme, number, "王小明", "valid", None, date(2030, 1, 1), "capital"), pin="123456"
    )
    return {"scheme": scheme, "number": number}


def book(registry: Registry, serial: int) -> str:
    return catalogue.item_barcode(registry, "capital", serial)


def txn(kind: str, item: str, card: dict[str, str] | None, at: datetime, **changes: Any) -> bytes:
    doc: dict[str, Any] = {
        "v": 1, "txn_id": f"{KIOSK}-{secrets.token_hex(6)}", "kiosk_id": KIOSK, "library_id": "capital",
        "kind": kind, "item": item, "at": at.isoformat(), "mode": "offline",
    }  # fmt: skip
    if card is not None:
        doc["card"] = card
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def session_token(ledger: Ledger, registry: Registry, card: dict[str, str], at: datetime = NOW) -> str | None:
    """The session token a right PIN at `at` gets at KIOSK (online loans need one)."""
    pin = messages.PinCheck(op="pin_check", card=messages.CardRef(**card), pin="123456")
    return RequestAnswers(ledger, registry, lambda: at, rules.SHANGHAI, 3).answer(pin, KIOSK).session_token


def exception_reasons(ledger: Ledger, ack: messages.Ack) -> set[str]:
    return {row.reason for row in ledger.exceptions() if row.txn_id == ack.txn_id}


def request() -> bytes:
    item = catalogue.item_barcode(load_registry(), "capital", 1)
    return messages.encode(messages.ReturnRoute(op="return_route", item=item, library_id="capital"))


# ---------------------------------------------------------------- offline bounds


def test_a_back_dated_offline_loan_is_an_exception_but_the_book_follows_it(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 1), book(registry, 1)
    at = NOW - timedelta(days=8)  # the default offline window is 7 days
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, due=(at + timedelta(days=28)).isoformat()))
    assert (ack.result, ack.exception) == ("committed", "at_beyond_offline_window")
    assert exception_reasons(ledger, ack) == {"at_beyond_offline_window"}
    assert ledger.item(item).state == "on_loan"  # it happened: the reader has the book


def test_a_future_dated_offline_return_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 2), None, NOW + timedelta(hours=1)))
    assert (ack.result, ack.exception) == ("committed", "at_in_future")
    assert exception_reasons(ledger, ack) == {"at_in_future"}


@pytest.mark.parametrize("at", [NOW + timedelta(minutes=4), NOW - timedelta(days=6, hours=23)])
def test_an_offline_txn_within_the_skew_and_the_window_commits_clean(
    intake: Intake, ledger: Ledger, registry: Registry, at: datetime
) -> None:
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 2), None, at))
    assert (ack.result, ack.exception) == ("committed", None)
    assert exception_reasons(ledger, ack) == set()


def test_the_offline_window_follows_the_hub_setting(ledger: Ledger, registry: Registry) -> None:
    checks = IntakeChecks.from_config(HubConfig(offline_window_days=30))
    intake = make_intake(ledger, registry, checks)
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 2), None, NOW - timedelta(days=20)))
    assert (ack.result, ack.exception) == ("committed", None)
    [old] = intake.handle_txn(KIOSK, txn("return", book(registry, 3), None, NOW - timedelta(days=31)))
    assert old.exception == "at_beyond_offline_window"


def test_an_offline_loan_due_beyond_the_loan_period_is_an_exception_and_capped(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 3), book(registry, 3)
    at = NOW - timedelta(hours=2)
    rule_due = rules.due_after(at, registry.scheme("bj-joint").loan_days)  # 42 days
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, due=(at + timedelta(days=365)).isoformat()))
    assert (ack.result, ack.exception) == ("committed", "due_beyond_loan_period")
    assert exception_reasons(ledger, ack) == {"due_beyond_loan_period"}
    assert ack.due == rule_due
    assert ledger.active_loan_for_item(item).due == rule_due  # the ledger keeps the rule's date


def test_an_offline_loan_within_the_loan_period_keeps_the_date_the_reader_was_shown(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 4), book(registry, 1)
    at = NOW - timedelta(hours=2)
    shown = at + timedelta(days=28)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, due=shown.isoformat()))
    assert (ack.result, ack.exception, ack.due) == ("committed", None, shown)


def test_an_offline_renewal_beyond_the_renewal_period_is_an_exception_and_capped(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 5), book(registry, 2)
    at = NOW - timedelta(days=2)
    token = session_token(ledger, registry, card, at)
    [loan] = intake.handle_txn(KIOSK, txn("loan", item, card, at, mode="online", session_token=token))
    assert loan.result == "committed" and loan.exception is None
    at = NOW - timedelta(hours=1)
    [ack] = intake.handle_txn(KIOSK, txn("renew", item, card, at, due=(at + timedelta(days=400)).isoformat()))
    rule_due = max(loan.due, rules.due_after(at, registry.scheme("bj-joint").renew_days))
    assert (ack.result, ack.exception, ack.due) == ("committed", "due_beyond_loan_period", rule_due)
    assert ledger.active_loan_for_item(item).due == rule_due


def test_online_txns_keep_todays_rules_whatever_their_at(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 6), book(registry, 3)
    at = NOW - timedelta(days=30)
    token = session_token(ledger, registry, card, at)  # valid when the reader was told
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, mode="online", session_token=token))
    assert (ack.result, ack.exception) == ("committed", None)
    assert ack.due == rules.due_after(NOW, registry.scheme("bj-joint").loan_days)


def test_bounds_judge_the_time_the_hub_would_have_read() -> None:
    bounds = OfflineBounds.of_days(7)
    assert bounds.time_problem(NOW + timedelta(minutes=6), NOW) == "at_in_future"
    assert bounds.time_problem(NOW - timedelta(days=7, seconds=1), NOW) == "at_beyond_offline_window"
    assert bounds.time_problem(NOW, NOW) is None


# ---------------------------------------------------------------- enrolment


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    root = tmp_path / "pki"
    init_pki(root)
    enroll_kiosk(root, KIOSK, "capital", tmp_path / "bundle-ok")
    enroll_kiosk(root, "k-revoked", "capital", tmp_path / "bundle-revoked")
    revoke_kiosk(root, "k-revoked")
    return root


@pytest.fixture
def guarded(ledger: Ledger, registry: Registry, pki_dir: Path) -> Intake:
    return make_intake(ledger, registry, IntakeChecks.from_config(HubConfig(pki_dir=pki_dir)))


@pytest.mark.parametrize(
    ("kiosk", "library", "reason"),
    [
        ("k-stranger", "capital", "kiosk_not_enrolled"),
        ("k-revoked", "capital", "kiosk_revoked"),
        (KIOSK, "nlc", "library_mismatch"),
    ],
)
def test_txns_of_unenrolled_revoked_or_misattributed_kiosks_are_rejected(
    guarded: Intake, ledger: Ledger, registry: Registry, kiosk: str, library: str, reason: str
) -> None:
    raw = txn("return", book(registry, 1), None, NOW, kiosk_id=kiosk, library_id=library)
    [ack] = guarded.handle_txn(kiosk, raw)
    assert (ack.result, ack.reason) == ("rejected", reason)
    assert doors.txn_rows(ledger) == 0


def test_an_enrolled_kiosk_is_served(guarded: Intake, registry: Registry) -> None:
    [ack] = guarded.handle_txn(KIOSK, txn("return", book(registry, 1), None, NOW))
    assert ack.result == "committed"
    assert guarded.handle_request(KIOSK, request()).ok


@pytest.mark.parametrize(("kiosk", "reason"), [("k-stranger", "kiosk_not_enrolled"), ("k-revoked", "kiosk_revoked")])
def test_requests_of_unenrolled_or_revoked_kiosks_fail(guarded: Intake, kiosk: str, reason: str) -> None:
    assert guarded.handle_request(kiosk, request()) == messages.Response(ok=False, error=reason)


def test_a_revocation_takes_effect_on_the_next_message(guarded: Intake, pki_dir: Path) -> None:
    assert guarded.handle_request(KIOSK, request()).ok
    revoke_kiosk(pki_dir, KIOSK)
    assert guarded.handle_request(KIOSK, request()).error == "kiosk_revoked"


def test_an_unreadable_enrolment_table_serves_no_kiosk(pki_dir: Path) -> None:
    (pki_dir / "kiosks.json").chmod(0o644)  # readable by others: refused, not used
    assert Enrolment(pki_dir).problem(KIOSK) == "kiosk_not_enrolled"
    (pki_dir / "kiosks.json").unlink()
    assert Enrolment(pki_dir).problem(KIOSK) == "kiosk_not_enrolled"


def test_without_a_pki_dir_any_kiosk_is_served_as_before(intake: Intake, registry: Registry) -> None:
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 1), None, NOW))
    assert ack.result == "committed"
    assert IntakeChecks.from_config(HubConfig()).enrolment is None


# ---------------------------------------------------------------- rate limit


def test_a_kiosk_over_its_request_rate_is_answered_rate_limited_and_logged_once(
    ledger: Ledger, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [0.0]
    limit = RequestRateLimit(rate_per_s=20, burst=40, clock=lambda: clock[0])
    intake = make_intake(ledger, registry, IntakeChecks(rate_limit=limit))
    with caplog.at_level(logging.WARNING, logger="hub.worker.intake"):
        answers = [intake.handle_request(KIOSK, request()) for _ in range(60)]
    assert all(a.ok for a in answers[:40])
    assert all(a == messages.Response(ok=False, error="rate_limited") for a in answers[40:])
    assert intake.stats.rate_limited == 20
    warnings = [r.getMessage() for r in caplog.records if "rate_limited" in r.getMessage()]
    assert len(warnings) == 1 and KIOSK in warnings[0]
    assert intake.handle_request("k-other", request()).ok  # one kiosk's flood, not everyone's
    clock[0] += 0.1  # 20/s: two tokens back
    assert [intake.handle_request(KIOSK, request()).ok for _ in range(3)] == [True, True, False]


def test_the_rate_limit_keeps_a_bounded_number_of_kiosks() -> None:
    limit = RequestRateLimit(rate_per_s=1, burst=1, clock=lambda: 0.0, max_kiosks=100)
    for n in range(1000):
        assert limit.allow(f"k{n}")
    assert len(limit._buckets) == 100


# ---------------------------------------------------------------- the resp topic


@pytest.fixture
def hub_on_broker(lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry) -> Iterator[HubService]:
    url = f"sqlite:///{tmp_path}/resp.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    worker = f"resp-{secrets.token_hex(3)}"
    service = HubService(broker.url, url, registry, worker, config=hub_settings(lab, worker)).start()
    yield service
    service.retire()


def _listener(
    lab: Lab, broker: MosquittoProcess, kiosk_id: str, arrived: queue.Queue[tuple[str, bytes, bytes | None]]
) -> mqtt.Client:
    """Enrolled kiosk `kiosk_id`, connected as itself and subscribed to its own `resp`."""
    ready = threading.Event()
    client = secure_client(lab, broker, kiosk_id)
    client.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topics.topic(kiosk_id, "resp"), 1)
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: ready.set() if not codes[0].is_failure else None
    client.on_message = lambda cl, ud, msg: arrived.put(
        (msg.topic, msg.payload, getattr(msg.properties, "CorrelationData", None))
    )
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert ready.wait(5), f"{kiosk_id} could not subscribe to its resp"
    return client


def test_the_hub_answers_on_the_requesting_kiosks_own_resp_whatever_response_topic_says(
    lab: Lab, broker: MosquittoProcess, hub_on_broker: HubService
) -> None:
    """The attacker is an enrolled kiosk (it may read only its own `resp`): its request
    names the victim's `resp` as ResponseTopic, to have the hub answer there."""
    attacker, victim = f"k-att-{secrets.token_hex(3)}", f"k-vic-{secrets.token_hex(3)}"
    to_attacker: queue.Queue[tuple[str, bytes, bytes | None]] = queue.Queue()
    to_victim: queue.Queue[tuple[str, bytes, bytes | None]] = queue.Queue()
    clients = [_listener(lab, broker, attacker, to_attacker), _listener(lab, broker, victim, to_victim)]
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.topic(victim, "resp")
        props.CorrelationData = b"corr-1"
        clients[0].publish(topics.topic(attacker, "req"), request(), qos=1, properties=props).wait_for_publish(5)
        topic, payload, correlation = to_attacker.get(timeout=10)
        assert topic == topics.topic(attacker, "resp")
        assert correlation == b"corr-1"
        assert messages.Response.model_validate_json(payload).ok
        with pytest.raises(queue.Empty):
            to_victim.get(timeout=1.0)  # and nothing on the victim's resp
        assert to_attacker.empty()
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
