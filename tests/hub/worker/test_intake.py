"""What a kiosk sends, judged without a broker: which txns commit, which are rejected and
how, what every payload does to the worker's counters, and what reaches the log."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from contract import messages
from contract.privacy import mask_card
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, WorkerStats, recover_txn_id, safe_kiosk
from tests.hub import ledger_doors as doors

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
KIOSK = "k-intake"


@pytest.fixture
def ledger(tmp_path: Path, registry: Registry) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/intake.sqlite") as led:
        led.seed_demo(registry, per_member=3)
        yield led


@pytest.fixture
def intake(ledger: Ledger, registry: Registry) -> Intake:
    answers = RequestAnswers(ledger, registry, lambda: NOW, timezone(timedelta(hours=8)), 3)
    return Intake(ledger, registry, answers, lambda: NOW, WorkerStats())


def a_return(registry: Registry, **changes: Any) -> dict[str, Any]:
    doc = {
        "v": 1, "txn_id": f"{KIOSK}-{secrets.token_hex(6)}", "kiosk_id": KIOSK, "library_id": "capital",
        "kind": "return", "item": catalogue.item_barcode(registry, "capital", 1), "at": NOW.isoformat(),
        "mode": "offline",
    }  # fmt: skip
    return {**doc, **changes}


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_a_valid_txn_commits_once_and_its_repeat_is_counted_as_a_duplicate(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    doc = a_return(registry)
    [first] = intake.handle_txn(KIOSK, raw(doc))
    [again] = intake.handle_txn(KIOSK, raw(doc))
    assert (first.result, again.result) == ("committed", "duplicate")
    assert (intake.stats.txns, intake.stats.committed, intake.stats.duplicates) == (2, 1, 1)
    assert doors.txn_rows(ledger, doc["txn_id"]) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"kiosk_id": "someone-else"}, "kiosk_id does not match topic"), ({"library_id": "atlantis"}, "library_unknown")],
)
def test_a_txn_from_another_kiosk_or_an_unknown_library_is_rejected_and_not_written(
    intake: Intake, ledger: Ledger, registry: Registry, changes: dict[str, str], reason: str
) -> None:
    doc = a_return(registry, **changes)
    [ack] = intake.handle_txn(KIOSK, raw(doc))
    assert ack == messages.Ack(txn_id=doc["txn_id"], result="rejected", reason=reason)
    assert intake.stats.rejected == 1 and doors.txn_rows(ledger) == 0


def test_an_invalid_txn_is_rejected_by_its_txn_id_or_dropped_without_one(
    intake: Intake, registry: Registry
) -> None:
    doc = a_return(registry)
    del doc["item"]
    [ack] = intake.handle_txn(KIOSK, raw(doc))
    assert (ack.txn_id, ack.result) == (doc["txn_id"], "rejected")
    assert "item" in (ack.reason or "")
    assert intake.handle_txn(KIOSK, b"\xff not json") == []
    assert (intake.stats.invalid, intake.stats.rejected) == (2, 1)


def test_a_request_the_hub_fails_to_answer_is_an_internal_error_not_an_exception(
    ledger: Ledger, registry: Registry
) -> None:
    class Broken:
        def answer(self, request: Any) -> messages.Response:
            raise RuntimeError("disk on fire")

    intake = Intake(ledger, registry, Broken(), lambda: NOW, WorkerStats())  # type: ignore[arg-type]
    req = messages.ReturnRoute(op="return_route", item=catalogue.item_barcode(registry, "capital", 1),
                               library_id="capital")  # fmt: skip
    resp = intake.handle_request(KIOSK, messages.encode(req))
    assert (resp.ok, resp.error) == (False, "internal_error")
    assert (intake.stats.requests, intake.stats.errors) == (1, 1)


def test_an_invalid_request_names_the_problem_without_echoing_the_card_number(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "1234567890123456789"
    body = {"v": 1, "op": "pin_check", "card": {"scheme": "bj-joint", "number": secret}, "pin": "12"}
    with caplog.at_level(logging.DEBUG):
        resp = intake.handle_request(KIOSK, raw(body))
    assert resp.ok is False and resp.error and secret not in resp.error
    assert secret not in caplog.text and intake.stats.invalid == 1


def test_state_and_telemetry_update_the_fleet_and_a_cleared_state_is_ignored(
    intake: Intake, ledger: Ledger
) -> None:
    intake.record_state(KIOSK, b"")
    assert ledger.fleet() == []
    intake.record_state(KIOSK, messages.encode(messages.KioskState(state="maintenance", library_id="capital")))
    intake.record_telemetry(KIOSK, messages.encode(messages.Telemetry(at=NOW, journal_pending=4)))
    intake.record_telemetry(KIOSK, b"{}")
    [row] = ledger.fleet()
    assert (row.state, row.library_id, row.journal_pending) == ("maintenance", "capital", 4)
    assert (intake.stats.fleet_updates, intake.stats.invalid) == (2, 1)


def test_only_a_well_formed_txn_id_is_recovered_from_a_bad_payload() -> None:
    assert recover_txn_id(b'{"txn_id": "abcdefghijk1", "kind": 5}') == "abcdefghijk1"
    assert recover_txn_id(b'{"txn_id": "short"}') is None
    assert recover_txn_id(b'{"txn_id": "has spaces in it"}') is None
    assert recover_txn_id(b"[" * 50_000) is None


def test_a_topic_that_is_not_a_kiosk_id_is_never_logged_as_is() -> None:
    assert safe_kiosk("k-01") == "k-01"
    assert safe_kiosk("1234567890123456x!") == "<invalid-kiosk-id>"
    assert safe_kiosk(None) == "<invalid-kiosk-id>"


def test_verbose_logs_one_line_per_request_with_the_card_masked_and_the_outcome(
    intake: Intake, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """`python -m hub --verbose` promises every request in the log; the card never whole."""
    reader = catalogue.generate_readers(registry)[0]
    card = messages.CardRef(scheme=reader.scheme, number=reader.number)
    lookup = messages.encode(messages.ReaderLookup(op="reader_lookup", card=card, library_id="capital"))
    with caplog.at_level(logging.DEBUG, logger="hub.worker.intake"):
        intake.handle_request(KIOSK, lookup)
    lines = [r.getMessage() for r in caplog.records if "reader_lookup" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert mask_card(card.number) in lines[0] and "->" in lines[0]
    assert card.number not in caplog.text
    with caplog.at_level(logging.INFO, logger="hub.worker.intake"):
        caplog.clear()
        intake.handle_request(KIOSK, lookup)
    assert "reader_lookup" not in caplog.text


def test_worker_stats_lose_no_count_between_threads() -> None:
    """The commit thread and paho's both count errors: four threads counting at once end
    on the exact sum, and a misspelt counter is an error, not a new attribute."""
    stats = WorkerStats()

    def count() -> None:
        for _ in range(20_000):
            stats.count("errors")

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.errors == 80_000
    with pytest.raises(AttributeError, match="no counter 'eror'"):
        stats.count("eror")
    with pytest.raises(AttributeError):
        stats.count("_lock")
