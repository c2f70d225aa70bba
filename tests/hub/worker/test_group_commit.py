"""The worker's commit thread (hub/worker/group_commit.py): txns that arrive while a
commit is in progress are committed as one batch, a lone txn at once; acks only after
the batch committed, PUBACKs after the acks; a batch whose COMMIT fails acks nothing and
its resend commits it; and a reader lookup does not wait behind a batch."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from contract import messages, topics
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.assembly import build_hub
from hub.worker.group_commit import Arrival, GroupCommitter
from hub.worker.intake import Intake, TxnAnswer, WorkerStats
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.hub.ledger.test_batch_commits import commit_fails
from tests.hub.worker.test_service import Kiosk, valid_lookup
from tests.secure_clients import hub_settings

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
KIOSK = "k-group"


class Recorder:
    """What the committer did, in order: ("commit", n), ("ack", txn_id), ("puback", i)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, *event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def send_ack(self, kiosk_id: str, ack: messages.Ack) -> None:
        self.add("ack", ack.txn_id)

    def arrival(self, i: int, payload: bytes = b"{}") -> Arrival:
        return Arrival(KIOSK, payload, lambda: self.add("puback", i))

    def of(self, kind: str) -> list[Any]:
        with self.lock:
            return [e[1] for e in self.events if e[0] == kind]


def ack_for(i: int) -> messages.Ack:
    return messages.Ack(txn_id=f"txn-{i:08d}", result="committed")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_txns_arriving_while_a_commit_is_in_progress_are_committed_as_one_batch_and_a_lone_one_at_once(
    recorder: Recorder,
) -> None:
    first_entered, release = threading.Event(), threading.Event()

    def commit(arrivals: Sequence[tuple[str, bytes]]) -> list[TxnAnswer]:
        recorder.add("commit", len(arrivals))
        first_entered.set()
        release.wait(10)
        return [TxnAnswer([]) for _ in arrivals]

    committer = GroupCommitter(commit, recorder.send_ack, WorkerStats(), max_batch=4).start()
    try:
        committer.submit(recorder.arrival(0))
        assert first_entered.wait(0.5), "a lone txn was not committed at once"
        for i in range(1, 7):  # arrive while txn 0's commit is in progress
            committer.submit(recorder.arrival(i))
        release.set()
        assert committer.drain(10)
    finally:
        committer.stop()
    assert recorder.of("commit") == [1, 4, 2], "what queued meanwhile, in batches of at most max_batch"
    assert recorder.of("puback") == list(range(7)), "every txn settled, in arrival order"


def test_acks_are_published_only_after_the_commit_and_pubacks_only_after_the_acks(recorder: Recorder) -> None:
    """The middle txn failed alone: no ack (its kiosk sends it again), but it is settled
    with its neighbours, so the broker's in-flight window does not fill up."""

    def commit(arrivals: Sequence[tuple[str, bytes]]) -> list[TxnAnswer]:
        recorder.add("commit", len(arrivals))
        time.sleep(0.05)  # a commit that takes a while: nothing may overtake it
        recorder.add("committed", len(arrivals))
        return [TxnAnswer([ack_for(0)]), TxnAnswer([], RuntimeError("bad")), TxnAnswer([ack_for(2)])]

    committer = GroupCommitter(commit, recorder.send_ack, stats := WorkerStats())
    for i in range(3):  # queued before the thread starts: one batch
        committer.submit(recorder.arrival(i))
    committer.start()
    try:
        assert committer.drain(10)
    finally:
        committer.stop()
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["commit", "committed", "ack", "ack", "puback", "puback", "puback"], recorder.events
    assert recorder.of("ack") == ["txn-00000000", "txn-00000002"]
    assert stats.errors == 1


@pytest.fixture
def ledger(tmp_path: Path, registry: Registry) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/group.sqlite") as led:
        led.seed_demo(registry, per_member=3)
        yield led


def a_return(registry: Registry, serial: int) -> bytes:
    return json.dumps({
        "v": 1, "txn_id": f"{KIOSK}-{secrets.token_hex(6)}", "kiosk_id": KIOSK, "library_id": "capital",
        "kind": "return", "item": catalogue.item_barcode(registry, "capital", serial), "at": NOW.isoformat(),
        "mode": "offline",
    }).encode()  # fmt: skip


def test_a_batch_whose_commit_fails_publishes_no_ack_and_its_resend_commits_every_txn(
    ledger: Ledger, registry: Registry, recorder: Recorder
) -> None:
    answers = RequestAnswers(ledger, registry, lambda: NOW, timezone(timedelta(hours=8)), 3)
    intake = Intake(ledger, registry, answers, lambda: NOW, stats := WorkerStats())
    committer = GroupCommitter(intake.handle_txns, recorder.send_ack, stats)
    payloads = [a_return(registry, serial) for serial in (1, 2, 3)]
    txn_ids = [json.loads(p)["txn_id"] for p in payloads]
    try:
        with commit_fails(ledger):
            for i, payload in enumerate(payloads):  # queued before the thread starts: one batch
                committer.submit(recorder.arrival(i, payload))
            committer.start()
            assert committer.drain(10)
        assert recorder.of("ack") == [], "an ack of a batch that was never committed"
        assert recorder.of("puback") == [0, 1, 2] and stats.errors == 3
        assert doors.txn_rows(ledger) == 0

        for i, payload in enumerate(payloads):  # the kiosk's resends
            committer.submit(recorder.arrival(10 + i, payload))
        assert committer.drain(10)
    finally:
        committer.stop()
    assert recorder.of("ack") == txn_ids
    assert [doors.txn_rows(ledger, t) for t in txn_ids] == [1, 1, 1]


def test_the_batch_bound_is_the_configured_commit_batch_max(lab: Lab, tmp_path: Path, registry: Registry) -> None:
    config = hub_settings(lab, "group-bound", commit_batch_max=7)
    parts = build_hub(
        f"sqlite:///{tmp_path}/bound.sqlite", registry, config, lambda: NOW, WorkerStats(), "group-bound",
        send_ack=lambda _k, _a: None,
    )
    try:
        assert parts.committer.max_batch == 7
        assert parts.txn_ledger is not parts.ledger, "txns must be committed on a connection of their own"
    finally:
        parts.close()


class _HeldIls:
    """The ILS hook of a txn's commit, waiting until `leave`: the commit thread stays
    inside its batch, the write transaction open."""

    def __init__(self, inside: threading.Event, leave: threading.Event) -> None:
        self.inside, self.leave = inside, leave

    def follow_txn(self, _ledger: Any, _txn: Any, ack: messages.Ack, _now: Any) -> messages.Ack:
        self.inside.set()
        self.leave.wait(30)
        return ack

    def wake_all(self) -> None:
        return None


@dataclass
class HeldWorker:
    """A worker on the session's broker, one kiosk of it, and a reader's lookup; its
    commits held on `hold_commits()` until the test ends."""

    service: HubService
    kiosk: Kiosk
    lookup: messages.ReaderLookup
    inside: threading.Event = field(default_factory=threading.Event)
    leave: threading.Event = field(default_factory=threading.Event)

    def hold_commits(self) -> None:
        assert self.service.intake is not None
        self.service.intake.ils = _HeldIls(self.inside, self.leave)  # type: ignore[assignment]

    def send_returns(self, registry: Registry, serials: range) -> None:
        topic = topics.topic(self.kiosk.kiosk_id, "txn")
        for serial in serials:
            txn = messages.Txn.model_validate_json(a_return(registry, serial))
            self.kiosk.client.publish(topic, messages.encode(txn.model_copy(update={"kiosk_id": self.kiosk.kiosk_id})), qos=1)


@pytest.fixture
def held_worker(lab: Lab, broker: MosquittoProcess, tmp_path: Path, registry: Registry) -> Iterator[HeldWorker]:
    url = f"sqlite:///{tmp_path}/held.sqlite"
    with Ledger.open(url) as led:
        led.seed_demo(registry, per_member=3)
    name = f"group-held-{secrets.token_hex(3)}"
    service = HubService(broker.url, url, registry, name, config=hub_settings(lab, name)).start()
    lookup = valid_lookup(registry)
    held = HeldWorker(service, Kiosk(lab, broker, f"k-{secrets.token_hex(4)}"), lookup)
    try:
        assert held.kiosk.request(lookup).ok  # its presence written: the next lookup within a second reads only
        yield held
    finally:
        held.leave.set()
        held.kiosk.close()
        service.retire()


def test_a_reader_lookup_is_answered_while_a_batch_holds_its_write_transaction_open(
    held_worker: HeldWorker, registry: Registry
) -> None:
    """The commit thread is stuck inside a batch (its write transaction open: the ILS hook
    of a txn waits); a reader lookup on the same worker is answered all the same."""
    held_worker.hold_commits()
    held_worker.send_returns(registry, range(1, 2))
    assert held_worker.inside.wait(10), "the txn never reached its commit"
    started = time.monotonic()
    answer = held_worker.kiosk.request(held_worker.lookup, timeout=5)
    waited = time.monotonic() - started
    assert answer.ok and answer.state == "valid"
    assert waited < 0.5, f"the lookup waited {waited:.2f} s behind the open batch"
    with pytest.raises(queue.Empty):
        held_worker.kiosk.acks.get(timeout=0.1)  # and no ack before the batch committed


def test_a_reader_lookup_is_answered_past_a_backlog_that_fills_the_brokers_window(
    held_worker: HeldWorker, registry: Registry
) -> None:
    """A fleet's catch-up: more txns than the broker hands a worker unPUBACKed
    (`max_inflight_messages` 100), and their commits held up. A reader's lookup sent
    after all of them is answered at once: requests are subscribed at QoS 0, past the
    window (hub/worker/service.py); at QoS 1 it would wait for the backlog's commits."""
    held_worker.hold_commits()
    held_worker.send_returns(registry, range(1, 151))
    assert held_worker.inside.wait(10), "the first txn never reached its commit"
    answer = held_worker.kiosk.request(held_worker.lookup, timeout=5)  # sent after the 150 txns, on one connection
    assert answer.ok and answer.state == "valid"
    assert held_worker.kiosk.acks.empty(), "no txn of the backlog was committed meanwhile"


def test_members_systems_drainers_are_woken_once_the_batch_has_committed(
    ledger: Ledger, registry: Registry
) -> None:
    """A drainer woken from inside the batch's transaction may look before the commit and
    find nothing: it is woken again after the commit, when the calls are there to see."""
    seen: list[int] = []
    drainers_view = ledger.open_again()  # a drainer's own connection: it sees only what is committed

    class Ils:
        def follow_txn(self, _ledger: Any, _txn: Any, ack: messages.Ack, _now: Any) -> messages.Ack:
            return ack

        def wake_all(self) -> None:
            seen.append(doors.txn_rows(drainers_view))  # what a drainer looking now would find

    answers = RequestAnswers(ledger, registry, lambda: NOW, timezone(timedelta(hours=8)), 3)
    intake = Intake(ledger, registry, answers, lambda: NOW, WorkerStats(), ils=Ils())  # type: ignore[arg-type]
    intake.handle_txns([(KIOSK, a_return(registry, serial)) for serial in (1, 2)])
    assert seen == [2], "woken once, after both txns were committed"
    intake.handle_txns([(KIOSK, b"not a txn")])
    assert seen == [2], "nothing committed: nothing to wake for"
    drainers_view.close()


def test_stop_is_bounded_when_a_batch_does_not_come_back_and_leaves_the_rest_unsettled(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The database does not answer inside batch 0: stop() returns at its bound, says how
    many txns it left, and the thread commits nothing more once its call comes back: what
    it left got no ack and no PUBACK, so the broker hands it again (nothing lost)."""
    inside, release = threading.Event(), threading.Event()

    def commit(arrivals: Sequence[tuple[str, bytes]]) -> list[TxnAnswer]:
        recorder.add("commit", len(arrivals))
        inside.set()
        release.wait(10)  # as a call on a frozen server, until it is cut
        raise OSError("connection cut")

    committer = GroupCommitter(commit, recorder.send_ack, WorkerStats()).start()
    committer.submit(recorder.arrival(0))
    assert inside.wait(5)
    for i in range(1, 4):
        committer.submit(recorder.arrival(i))
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="hub.worker.group_commit"):
        assert committer.stop(timeout=0.3) is False
    assert time.monotonic() - started < 2
    assert "4 txn(s) left unsettled" in caplog.text
    release.set()  # the cut call fails
    assert committer.ended(5)
    assert recorder.of("commit") == [1], "no batch after the stop gave up"
    assert recorder.of("ack") == []
    assert recorder.of("puback") == [0], "the failed batch settled, the three behind it left to the broker"
