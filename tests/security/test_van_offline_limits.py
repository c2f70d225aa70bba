"""A book van's larger offline limit (issue 19 item 5) comes from the hub's own settings
(`[hub] van_kiosks`, `van_offline_max_items`), for the kiosk ids they list and only
those: the blocklist answer carries it, and the hub judges offline loans by the same
figure. A kiosk the hub does not list gets the ordinary limit, whatever it is configured
as (nothing a kiosk sends says "van"). Real ledger on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contract import messages
from hub.config import HubConfig
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from tests.security.test_txn_checks import KIOSK, NOW, book, reader, txn
from tests.security.wire_kiosk import Clock

BLOCKLIST = messages.encode(messages.Blocklist(op="blocklist"))


@pytest.fixture
def ledger(tmp_path: Path, registry: Registry) -> Iterator[Ledger]:
    """The demo catalogue with eight books per member: enough for a van's round."""
    with Ledger.open(f"sqlite:///{tmp_path}/vans.sqlite") as led:
        led.seed_demo(registry, per_member=8)
        yield led


def hub(ledger: Ledger, registry: Registry, clock: Clock, **settings: Any) -> Intake:
    """An intake and its answers as a worker builds them from `[hub]` `settings`."""
    config = HubConfig(**settings)
    answers = RequestAnswers(
        ledger,
        registry,
        clock,
        rules.SHANGHAI,
        config.offline_max_items,
        offline_limits=config.offline_limits,
    )
    return Intake(ledger, registry, answers, clock, WorkerStats(), IntakeChecks.from_config(config))


def offline_round(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock, loans: int
) -> list[str | None]:
    """One card borrows `loans` books offline in an afternoon; the backlog arrives at once."""
    card = reader(ledger, 9)
    clock.now = NOW + timedelta(hours=6)
    acks = [
        intake.handle_txn(KIOSK, txn("loan", book(registry, n), card, NOW + timedelta(minutes=n)))[
            0
        ]
        for n in range(1, loans + 1)
    ]
    assert all(a.result == "committed" for a in acks)
    return [a.exception for a in acks]


def test_a_van_the_hub_lists_lends_offline_up_to_the_van_limit(
    ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    # 4, within the joint card's own quota of 5 (beyond it: `limit_reached`, as anywhere)
    intake = hub(ledger, registry, clock, van_kiosks=["k-check*"], van_offline_max_items=4)
    exceptions = offline_round(intake, ledger, registry, clock, 5)
    assert exceptions == [None] * 4 + ["offline_over_card_limit"]


def test_a_kiosk_the_hub_does_not_list_keeps_the_kiosk_limit(
    ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    intake = hub(ledger, registry, clock, van_kiosks=["van-*"], van_offline_max_items=4)
    exceptions = offline_round(intake, ledger, registry, clock, 4)
    assert exceptions == [None] * 3 + ["offline_over_card_limit"]


def test_the_blocklist_tells_a_van_its_limit_and_a_kiosk_its_own(
    ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    intake = hub(ledger, registry, clock, van_kiosks=["van-*"], van_offline_max_items=12)
    assert intake.handle_request("van-7", BLOCKLIST).offline_max_items == 12
    assert intake.handle_request(KIOSK, BLOCKLIST).offline_max_items == 3
