"""What one kiosk can make the hub hold is bounded (issue 16, findings 9 and 10), as
attacks that must fail: 3,000 txns each opening a new journal epoch behind a gap; more
txns behind a gap than the parked cap; a flood of txns over the kiosk's rate; parked txns
whose predecessor never comes; a telemetry dated in the year 9999. The epoch attack, the
flood and the sweep of stale parked txns run over the lab's secure broker, as an enrolled
kiosk; the rest against the intake and a real SQLite ledger."""

from __future__ import annotations

import functools
import json
import logging
import queue
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contract import messages, topics
from hub.config import HubConfig
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.kiosk_flags import OVER_CAP
from hub.ledger.ledger import Ledger
from hub.ledger.order_caps import EPOCHS_OVER_CAP, PARKED_TOO_LONG, OrderCaps
from hub.rules import rules
from hub.rules.registry import Registry, load_registry
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from hub.worker.rate_limit import RequestRateLimit
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.secure_clients import hub_settings, secure_client
from tests.security.wire_kiosk import Clock

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
KIOSK = "k-bounds"
EPOCH = "00000000000000aa"


def make_intake(
    ledger: Ledger, registry: Registry, checks: IntakeChecks | None = None, clock: Clock | None = None
) -> Intake:
    clock = clock or Clock(NOW)
    answers = RequestAnswers(ledger, registry, clock, rules.SHANGHAI, 3)
    return Intake(ledger, registry, answers, clock, WorkerStats(), checks)


@functools.cache
def book(serial: int = 1) -> str:
    return catalogue.item_barcode(load_registry(), "capital", serial)


def ordered(
    seq: int, epoch: str = EPOCH, floor: int = 1, kiosk: str = KIOSK, at: datetime | str = NOW, **changes: Any
) -> bytes:
    """A return as kiosk `kiosk`'s journal numbers it (returns always commit)."""
    doc: dict[str, Any] = {
        "v": 1, "txn_id": f"{kiosk}-{epoch[-6:]}-{seq}-{secrets.token_hex(3)}", "kiosk_id": kiosk,
        "library_id": "capital", "kind": "return", "item": book(1 + seq % 3),
        "at": at if isinstance(at, str) else at.isoformat(),
        "mode": "offline", "seq": seq, "epoch": epoch, "floor": floor,
    }  # fmt: skip
    doc.update(changes)
    return json.dumps(doc).encode()


def new_epoch(n: int) -> str:
    return f"{n:016x}"


def parked(ledger: Ledger, kiosk: str = KIOSK) -> int:
    return int(ledger.db.scalar("SELECT count(*) FROM parked WHERE kiosk_id = ?", (kiosk,)))


def over_cap_detail(ledger: Ledger, kiosk: str = KIOSK) -> str | None:
    flags = {f.flag: f for f in ledger.kiosk_flags(kiosk)}
    return flags[OVER_CAP].detail if OVER_CAP in flags else None


# ---------------------------------------------------------------- epochs


def test_3000_txns_each_opening_a_new_epoch_behind_a_gap_are_refused_beyond_the_cap(
    ledger: Ledger, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    intake = make_intake(ledger, registry)  # the defaults: 20 epochs a day, 500 parked
    with caplog.at_level(logging.WARNING, logger="hub.worker.intake"):
        answers = [intake.handle_txn(KIOSK, ordered(seq=2, epoch=new_epoch(n))) for n in range(3000)]
    assert len([r for r in caplog.records if EPOCHS_OVER_CAP in r.getMessage()]) == 1  # once per burst

    assert parked(ledger) == 20  # each admitted epoch's txn waits for its seq 1
    assert all(a == [] for a in answers[:20])
    refused = [a for acks in answers[20:] for a in acks]
    assert len(refused) == 2980 and {(a.result, a.reason) for a in refused} == {("rejected", EPOCHS_OVER_CAP)}
    assert intake.stats.over_cap == 2980 and intake.stats.errors == 0
    assert EPOCHS_OVER_CAP in (over_cap_detail(ledger) or "")
    assert doors.txn_rows(ledger) == 0  # nothing of the refused txns is kept
    # The kiosk's own journal still works: the first epoch's seq 1 releases its seq 2.
    acks = intake.handle_txn(KIOSK, ordered(seq=1, epoch=new_epoch(0)))
    assert [a.result for a in acks] == ["committed", "committed"]


def test_the_epoch_cap_counts_a_rolling_day_and_never_refuses_a_txn_already_committed(
    ledger: Ledger, registry: Registry
) -> None:
    clock = Clock(NOW)
    intake = make_intake(ledger, registry, IntakeChecks(caps=OrderCaps(max_epochs_per_day=2)), clock)
    first = ordered(seq=1, epoch=new_epoch(1))
    assert intake.handle_txn(KIOSK, first)[0].result == "committed"
    assert intake.handle_txn(KIOSK, ordered(seq=1, epoch=new_epoch(2)))[0].result == "committed"
    [ack] = intake.handle_txn(KIOSK, ordered(seq=1, epoch=new_epoch(3)))
    assert (ack.result, ack.reason) == ("rejected", EPOCHS_OVER_CAP)
    # A resend of a txn of an epoch the hub knows is answered as before.
    assert intake.handle_txn(KIOSK, first)[0].result == "duplicate"
    clock.now += timedelta(hours=25)  # a day later the kiosk may open epochs again
    assert intake.handle_txn(KIOSK, ordered(seq=1, epoch=new_epoch(3), at=clock.now))[0].result == "committed"


# ---------------------------------------------------------------- the parked cap


def test_txns_beyond_the_parked_cap_get_no_ack_and_commit_when_resent_after_the_gap_fills(
    ledger: Ledger, registry: Registry
) -> None:
    """A rejection would make the kiosk drop the row for good; no ack makes it resend."""
    intake = make_intake(ledger, registry, IntakeChecks(caps=OrderCaps(max_parked_per_kiosk=50)))
    journal = {seq: ordered(seq=seq) for seq in range(1, 81)}
    answers = [intake.handle_txn(KIOSK, journal[seq]) for seq in range(2, 81)]  # seq 1 lost on the way
    assert all(a == [] for a in answers)
    assert parked(ledger) == 50 and intake.stats.over_cap == 29
    assert "parked_full" in (over_cap_detail(ledger) or "")
    assert doors.txn_rows(ledger) == 0

    acks = intake.handle_txn(KIOSK, journal[1])  # the kiosk resends the oldest first
    assert [a.result for a in acks] == ["committed"] * 51  # seq 1 and the 50 parked
    for seq in range(52, 81):  # then the rows it never saw acked
        assert [a.result for a in intake.handle_txn(KIOSK, journal[seq])] == ["committed"]
    assert doors.txn_rows(ledger) == 80 and parked(ledger) == 0  # nothing lost


def test_a_txn_already_parked_takes_no_more_room(ledger: Ledger, registry: Registry) -> None:
    intake = make_intake(ledger, registry, IntakeChecks(caps=OrderCaps(max_parked_per_kiosk=2)))
    resent = ordered(seq=3)
    for raw in (ordered(seq=2), resent, resent):
        assert intake.handle_txn(KIOSK, raw) == []
    assert intake.stats.over_cap == 0 and over_cap_detail(ledger) is None


# ---------------------------------------------------------------- parked too long


def test_parked_txns_older_than_the_age_are_committed_as_staff_exceptions_and_the_order_goes_on(
    ledger: Ledger, registry: Registry
) -> None:
    clock = Clock(NOW)
    caps = OrderCaps(parked_max_age=timedelta(hours=24))
    intake = make_intake(ledger, registry, IntakeChecks(caps=caps), clock)
    journal = {seq: ordered(seq=seq, at=NOW) for seq in range(1, 8)}
    assert intake.handle_txn(KIOSK, journal[3]) == []  # 1 and 2 never come
    assert intake.handle_txn(KIOSK, journal[4]) == []
    clock.now = NOW + timedelta(hours=20)
    assert intake.handle_txn(KIOSK, journal[6]) == []  # 5 missing too; younger than the age

    clock.now = NOW + timedelta(hours=23)
    assert ledger.sweep_parked(registry, clock.now, caps) == []  # not yet
    clock.now = NOW + timedelta(hours=25)
    swept = ledger.sweep_parked(registry, clock.now, caps)

    assert [(k, a.txn_id, a.result, a.exception) for k, a in swept] == [
        (KIOSK, json.loads(journal[seq])["txn_id"], "committed", PARKED_TOO_LONG) for seq in (3, 4)
    ]
    reasons = {(e.txn_id, e.reason) for e in ledger.exceptions()}
    assert reasons == {(json.loads(journal[seq])["txn_id"], PARKED_TOO_LONG) for seq in (3, 4)}
    assert parked(ledger) == 1  # seq 6 waits for 5, not yet too long
    # The kiosk's resend of a swept txn is answered with the same exception.
    [again] = intake.handle_txn(KIOSK, journal[4])
    assert (again.result, again.exception) == ("duplicate", PARKED_TOO_LONG)
    # The order goes on after the swept txns: 5 applies and releases 6.
    assert [a.result for a in intake.handle_txn(KIOSK, journal[5])] == ["committed", "committed"]
    # A txn of the gap that still arrives is applied on arrival.
    assert intake.handle_txn(KIOSK, journal[1])[0].result == "committed"
    assert doors.txn_rows(ledger) == 5 and parked(ledger) == 0


def test_a_sweep_of_an_old_epoch_leaves_the_kiosks_current_order_alone(ledger: Ledger, registry: Registry) -> None:
    caps = OrderCaps(parked_max_age=timedelta(hours=1))
    intake = make_intake(ledger, registry, IntakeChecks(caps=caps))
    assert intake.handle_txn(KIOSK, ordered(seq=5, epoch=new_epoch(7))) == []  # a lost journal's
    assert intake.handle_txn(KIOSK, ordered(seq=1))[0].result == "committed"  # the current one
    swept = ledger.sweep_parked(registry, NOW + timedelta(hours=2), caps)
    assert [a.exception for _, a in swept] == [PARKED_TOO_LONG]
    assert [a.result for a in intake.handle_txn(KIOSK, ordered(seq=2))] == ["committed"]


# ---------------------------------------------------------------- the txn rate


def test_txns_over_the_kiosks_rate_get_no_ack_are_logged_once_and_commit_when_resent(
    ledger: Ledger, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = [0.0]
    limit = RequestRateLimit(rate_per_s=1.0, burst=10, clock=lambda: ticks[0])
    intake = make_intake(ledger, registry, IntakeChecks(txn_rate_limit=limit))
    journal = [ordered(seq=seq) for seq in range(1, 31)]
    with caplog.at_level(logging.WARNING, logger="hub.worker.intake"):
        answers = [intake.handle_txn(KIOSK, raw) for raw in journal]
    assert [len(a) for a in answers] == [1] * 10 + [0] * 20
    assert intake.stats.txns_rate_limited == 20
    assert len([r for r in caplog.records if "txn_rate" in r.getMessage()]) == 1
    assert "txn_rate" in (over_cap_detail(ledger) or "")
    for n, raw in enumerate(journal[10:]):  # resent after the kiosk's resend interval, at the rate
        ticks[0] = 10.0 + n
        assert intake.handle_txn(KIOSK, raw)[0].result == "committed"
    assert doors.txn_rows(ledger) == 30


def test_the_default_txn_rate_lets_a_kiosk_drain_a_large_backlog_at_once() -> None:
    """A kiosk back online sends its journal as fast as acks come: tests/e2e/test_durability.py
    drains 1,500 rows at up to about 1,000 a second through one worker, `make bench` 10,000.
    The default bucket takes 10,000 at once (about a week offline at a busy kiosk), then
    200 a second."""
    limit = IntakeChecks.from_config(HubConfig()).txn_rate_limit
    assert limit is not None
    ticks = [0.0]
    limit.clock = lambda: ticks[0]
    assert all(limit.allow(KIOSK) for _ in range(10_000))
    assert not limit.allow(KIOSK)
    ticks[0] = 1.0
    assert all(limit.allow(KIOSK) for _ in range(200))


# ---------------------------------------------------------------- timestamps


def test_a_telemetry_of_the_year_9999_is_refused_and_the_kiosks_next_txn_commits(
    ledger: Ledger, registry: Registry
) -> None:
    intake = make_intake(ledger, registry)
    intake.record_telemetry(KIOSK, json.dumps({"v": 1, "at": "9999-12-31T23:59:59+00:00", "journal_pending": 0}).encode())
    assert intake.stats.invalid == 1 and ledger.fleet() == []
    [ack] = intake.handle_txn(KIOSK, ordered(seq=1))
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_ledger_holding_a_huge_clock_offset_still_commits_the_kiosks_txns(ledger: Ledger, registry: Registry) -> None:
    """A ledger written before timestamps were bounded may hold the offset of a year-9999
    telemetry (about 2.5e11 s): the arithmetic on it must not overflow."""
    intake = make_intake(ledger, registry)
    intake.record_telemetry(KIOSK, json.dumps({"v": 1, "at": NOW.isoformat(), "journal_pending": 0}).encode())
    with ledger.db.write():
        ledger.db.execute("UPDATE fleet SET clock_offset_s = ? WHERE kiosk_id = ?", (2.5e11, KIOSK))
    [ack] = intake.handle_txn(KIOSK, ordered(seq=1))
    assert ack.result == "committed"
    assert intake.stats.errors == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("at", "9999-01-01T00:00:00+00:00"), ("at", "1970-01-01T00:00:00Z"), ("due", "2200-01-01T00:00:00+08:00")],
)
def test_a_txn_with_a_timestamp_outside_the_sane_years_is_rejected_naming_it(
    ledger: Ledger, registry: Registry, field: str, value: str
) -> None:
    intake = make_intake(ledger, registry)
    raw = ordered(seq=1, **{field: value})
    [ack] = intake.handle_txn(KIOSK, raw)
    assert (ack.txn_id, ack.result) == (json.loads(raw)["txn_id"], "rejected")
    assert f"{field}: timestamp_out_of_range" in (ack.reason or "")
    assert doors.txn_rows(ledger) == 0


@pytest.mark.parametrize(
    ("model", "doc"),
    [
        (messages.KioskState, {"state": "online", "at": "9999-01-01T00:00:00"}),
        (messages.Ack, {"txn_id": "t-0123456789", "result": "committed", "due": "0001-01-01T00:00:00Z"}),
        (messages.Response, {"locked_until": "9999-01-01T00:00:00+00:00"}),
    ],
)
def test_every_timestamp_of_the_contract_is_bounded_at_parse(model: type, doc: dict[str, Any]) -> None:
    with pytest.raises(messages.ProtocolError, match="timestamp_out_of_range"):
        messages.parse(model, json.dumps(doc).encode())


def test_a_kiosk_with_a_clock_far_off_still_journals_its_txn_and_the_hub_refuses_it_naming_it(
    ledger: Ledger, registry: Registry
) -> None:
    """Built in code (the kiosk recording what it did) a txn is not judged: the journal is
    the record. On arrival the hub rejects it, so the kiosk keeps it for staff."""
    txn = messages.Txn.model_validate_json(ordered(seq=1, at="1970-01-01T08:00:00+08:00"))
    assert txn.at.year == 1970
    [ack] = make_intake(ledger, registry).handle_txn(KIOSK, messages.encode(txn))
    assert (ack.txn_id, ack.result) == (txn.txn_id, "rejected")


def test_timestamps_at_the_edges_of_the_sane_years_parse_naive_or_with_an_offset() -> None:
    for at in ("2000-01-01T00:00:00", "2100-12-31T23:59:59+14:00", "2026-03-03T10:00:00+08:00"):
        telemetry = messages.parse(messages.Telemetry, json.dumps({"at": at, "journal_pending": 0}).encode())
        assert telemetry.at == datetime.fromisoformat(at)


# ---------------------------------------------------------------- over the secure broker


class AttackerKiosk:
    """An enrolled kiosk on the lab broker, publishing whatever it likes on its own
    `txn` topic and collecting the acks on its own `ack`."""

    def __init__(self, lab: Lab, broker: MosquittoProcess, kiosk_id: str) -> None:
        self.kiosk_id = kiosk_id
        self.acks: queue.Queue[messages.Ack] = queue.Queue()
        ready = threading.Event()
        client = secure_client(lab, broker, kiosk_id)
        client.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topics.topic(kiosk_id, "ack"), 1)
        client.on_subscribe = lambda _c, _u, _mid, codes, _p: ready.set() if not codes[0].is_failure else None
        client.on_message = lambda cl, ud, msg: self.acks.put(messages.Ack.model_validate_json(msg.payload))
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        assert ready.wait(10), f"{kiosk_id} could not subscribe to its ack"
        self.client = client

    def publish(self, payloads: list[bytes]) -> None:
        infos = [self.client.publish(topics.topic(self.kiosk_id, "txn"), raw, qos=1) for raw in payloads]
        for info in infos:
            info.wait_for_publish(30)

    def collect(self, count: int, timeout: float) -> list[messages.Ack]:
        got: list[messages.Ack] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                got.append(self.acks.get(timeout=max(0.05, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_hub(lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry, **settings: object) -> HubService:
    url = f"sqlite:///{tmp_path}/wire.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    worker = f"bounds-{secrets.token_hex(3)}"
    return HubService(broker.url, url, registry, worker, config=hub_settings(lab, worker, **settings)).start()


def wire_txn(kiosk: str, seq: int, epoch: str, at: datetime) -> bytes:
    return ordered(seq=seq, epoch=epoch, kiosk=kiosk, at=at)


def test_the_epoch_attack_over_the_secure_broker_is_refused_beyond_the_cap(
    lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry
) -> None:
    hub = start_hub(lab, broker, tmp_path, registry)  # the defaults: 20 epochs a day
    attacker = AttackerKiosk(lab, broker, f"k-epochs-{secrets.token_hex(3)}")
    try:
        now = datetime.now(UTC)
        attacker.publish([wire_txn(attacker.kiosk_id, 2, new_epoch(n), now) for n in range(3000)])
        acks = attacker.collect(2980, timeout=120)
        assert len(acks) == 2980 and {(a.result, a.reason) for a in acks} == {("rejected", EPOCHS_OVER_CAP)}
        assert hub.ledger is not None
        assert parked(hub.ledger, attacker.kiosk_id) == 20
        assert EPOCHS_OVER_CAP in (over_cap_detail(hub.ledger, attacker.kiosk_id) or "")
        assert hub.stats.errors == 0 and hub.connected
        assert attacker.collect(1, timeout=1.0) == []  # and nothing else
    finally:
        attacker.close()
        hub.retire()


def test_a_flood_of_txns_over_the_rate_on_the_secure_broker_is_limited_and_flagged(
    lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry
) -> None:
    hub = start_hub(lab, broker, tmp_path, registry, txn_rate_per_s=1.0, txn_burst=20)
    attacker = AttackerKiosk(lab, broker, f"k-flood-{secrets.token_hex(3)}")
    neighbour = AttackerKiosk(lab, broker, f"k-calm-{secrets.token_hex(3)}")
    try:
        now = datetime.now(UTC)
        started = time.monotonic()
        attacker.publish([wire_txn(attacker.kiosk_id, seq, EPOCH, now) for seq in range(1, 501)])
        acks = attacker.collect(500, timeout=5)
        elapsed = time.monotonic() - started
        assert 20 <= len(acks) <= 20 + 1.0 * elapsed + 1  # the burst, then one a second
        assert hub.stats.txns_rate_limited >= 500 - len(acks)
        assert hub.ledger is not None
        assert "txn_rate" in (over_cap_detail(hub.ledger, attacker.kiosk_id) or "")
        # Another kiosk is served as before.
        neighbour.publish([wire_txn(neighbour.kiosk_id, 1, EPOCH, now)])
        [ack] = neighbour.collect(1, timeout=10)
        assert ack.result == "committed"
    finally:
        attacker.close()
        neighbour.close()
        hub.retire()


def test_a_worker_sweeps_stale_parked_txns_to_staff_and_sends_their_acks(
    lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry
) -> None:
    hub = start_hub(lab, broker, tmp_path, registry, parked_max_age_h=0.0005)  # 1.8 s; swept every second
    kiosk = AttackerKiosk(lab, broker, f"k-gap-{secrets.token_hex(3)}")
    try:
        raw = wire_txn(kiosk.kiosk_id, 2, EPOCH, datetime.now(UTC))  # seq 1 never comes
        kiosk.publish([raw])
        [ack] = kiosk.collect(1, timeout=30)
        assert (ack.txn_id, ack.result, ack.exception) == (json.loads(raw)["txn_id"], "committed", PARKED_TOO_LONG)
        assert hub.ledger is not None and parked(hub.ledger, kiosk.kiosk_id) == 0
        assert {e.reason for e in hub.ledger.exceptions() if e.txn_id == ack.txn_id} == {PARKED_TOO_LONG}
    finally:
        kiosk.close()
        hub.retire()
