"""The hub beside a member's own library system: the real ILS simulator (ils_sim, on
pysip2's server, its own codec) serving Dongcheng, our SIP2 client's pools to it, and a
ledger on SQLite and on PostgreSQL. Nothing here is a fake: requests go over TCP and
the simulator's journal counts what it handled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from contract import messages
from contract.card_schemes import make_card_number
from hub.ils.ils_drainer import IlsDrainer
from hub.ils.ils_operations import IlsGateway
from hub.ils.ils_routing import IlsRouting
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.rules.rules import ReaderRecord
from hub.sip2.client import Sip2Pool, Sip2System
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, WorkerStats
from tests.ils_peer import Ils

# From ils_sim/data/dongcheng.toml: a Dongcheng joint card, a book of Dongcheng.
DONGCHENG_CARD = messages.CardRef(scheme="bj-joint", number="0101000012373")
DONGCHENG_PIN = "196080"
BOOK = "30101000000018"
BOOK_TITLE = "长恨歌 · 大字版 / 王安忆 著"
OTHER_BOOK = "30101000000026"
THIRD_BOOK = "30101000000034"
# A National Library card: a partner scheme, lent to as GUEST-NLC.
NLC_CARD = messages.CardRef(scheme="nlc", number=make_card_number("nlc", 1))
NLC_PIN = "1234"


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(params=["gb18030", "utf-8"])
def ils(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ils]:
    sim = Ils(tmp_path, request.param)
    sim.start()
    yield sim
    sim.stop()


@dataclass
class Hub:
    """One hub worker's parts, without MQTT: answers, intake (commits), the gateway and
    the drainer of system `east`."""

    ledger: Ledger
    registry: Registry
    answers: RequestAnswers
    intake: Intake
    gateway: IlsGateway
    drainer: IlsDrainer
    pool: Sip2Pool
    txns: int = 0

    def ask(self, request: messages._Msg, kiosk_id: str = "k1") -> messages.Response:
        return self.answers.answer(request, kiosk_id)

    def commit(self, kiosk_id: str = "k1", **fields: object) -> messages.Ack:
        self.txns += 1
        values: dict[str, object] = {
            "txn_id": f"T{self.txns:04d}-{kiosk_id}-0000",
            "kiosk_id": kiosk_id,
            "at": now(),
            "mode": "online",
        }
        values.update(fields)
        txn = messages.Txn.model_validate(values)
        acks = self.intake.handle_txn(kiosk_id, messages.encode(txn))
        return next(a for a in acks if a.txn_id == txn.txn_id)

    def drain(self, limit: int = 20) -> int:
        """Run the drainer's steps until it has nothing to send now (or `limit`)."""
        steps = 0
        while steps < limit and self.drainer.step() == 0.0:
            steps += 1
        return steps


@pytest.fixture
def make_hub(ledger: Ledger, registry: Registry) -> Iterator[Callable[..., Hub]]:
    pools: list[Sip2Pool] = []

    def make(ils: Ils, system: Sip2System | None = None, **guests: str) -> Hub:
        """The hub beside `ils`, reaching it as `system` says (default: directly, TLS)."""
        ledger.add_reader(
            ReaderRecord("nlc", NLC_CARD.number, "李雷", "valid", None, date(2036, 12, 31), "nlc"), pin=NLC_PIN
        )
        system = system or ils.system(**guests)
        pool = Sip2Pool(system, backoff_min_s=0.05, backoff_max_s=0.2)
        pools.append(pool)
        routing = IlsRouting(registry, {"dongcheng": "east"}, {"east": dict(system.guest_patrons)})
        gateway = IlsGateway(routing, {"east": pool}, ledger.ils_door(), now)
        answers = RequestAnswers(ledger, registry, now, UTC, offline_max_items=3, ils=gateway)
        intake = Intake(ledger, registry, answers, now, WorkerStats(), ils=gateway)
        drainer = IlsDrainer("east", pool, ledger.ils_door(), "w1", now, backoff_min_s=0.05, backoff_max_s=0.2)
        return Hub(ledger, registry, answers, intake, gateway, drainer, pool)

    yield make
    for pool in pools:
        pool.close()
