"""Builds one hub worker from its settings: the ledger, the members' own library systems
of `[sip2]` (a pool and a drainer per system, and the gateway over them), the answers to
requests, the intake and the parked-txn sweeper, in the order they must start and stop.

This is the hub's composition root, as `firmware/assembly.py` is the kiosk's. The MQTT
worker (`HubService`, hub/worker/service.py) only moves bytes: it connects, hands each
message to the intake built here, and publishes what comes back.

What a caller may rely on:
- `build_hub` raises `ConfigError` before anything is opened when the PIN pepper would
  live inside the ledger (`HubConfig.refuse_pepper_in_ledger`).
- The drainers are running when `build_hub` returns (they only talk to the members'
  systems and the ledger); the sweeper is built but not started, because the acks it
  sends need the worker's connection: `HubParts.start_sweeping()` starts it.
- Txns are committed on a second connection to the ledger, by the group committer's
  thread (hub/worker/group_commit.py, running when `build_hub` returns): requests read
  on the first, so a batch's write transaction never holds up a reader lookup.
- `HubParts.close()` stops the committer (settling what is queued), the sweeper, then
  the drainers, closes the pools, then both ledger connections; it is idempotent, and
  it ends within `timeout_s` (and a little) whatever the database does: a thread still
  waiting on the ledger then (a frozen PostgreSQL, a connection left half-open) has its
  call cut (`Ledger.cut`: it fails at once, nothing of it committed), and so has a
  call of the stop itself (a drainer's lease given back). A worker told to stop must
  stop, and a txn cut short was neither acked nor PUBACKed: the broker hands it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from contract import messages
from hub.config import HubConfig
from hub.ils.ils_drainer import IlsDrainer
from hub.ils.ils_operations import IlsGateway
from hub.ils.ils_routing import IlsRouting
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.sip2.client import Sip2Pool
from hub.sip2.settings import Sip2Settings
from hub.sip2.system import plain_warning
from hub.worker.answers import RequestAnswers
from hub.worker.group_commit import GroupCommitter
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from hub.worker.parked_sweeper import ParkedSweeper

log = logging.getLogger(__name__)

SendAck = Callable[[str, messages.Ack], None]
"""Publish an ack to a kiosk: (kiosk id, ack)."""


@dataclass
class HubParts:
    """What one running hub worker is made of (`build_hub`). `ils` is None, and
    `drainers` and `pools` are empty, without `[sip2]` members: the ledger alone."""

    ledger: Ledger
    answers: RequestAnswers
    intake: Intake
    sweeper: ParkedSweeper
    committer: GroupCommitter
    txn_ledger: Ledger
    ils: IlsGateway | None = None
    drainers: dict[str, IlsDrainer] = field(default_factory=dict)
    pools: dict[str, Sip2Pool] = field(default_factory=dict)
    _closed: bool = False

    def start_sweeping(self) -> None:
        """Start the parked-txn sweeper (at once, then every few minutes)."""
        self.sweeper.start()

    def close(self, timeout_s: float = 6.0) -> None:
        """Stop the threads and close the pools and the ledger (idempotent), within
        `timeout_s`: what still waits on the database then is cut (module doc)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout_s
        # Whatever waits on the ledger at the deadline, this thread included, fails then.
        watchdog = threading.Timer(timeout_s, self.cut_ledger)
        watchdog.daemon = True
        watchdog.start()
        try:
            if not self.committer.stop(max(0.0, deadline - time.monotonic()) / 2):
                self.txn_ledger.cut()  # the thread is inside a call that will not come back
                if not self.committer.ended(1.0):
                    log.warning("commit thread did not come out of its cut database call")
            self.sweeper.stop(max(0.0, deadline - time.monotonic()))
            for drainer in self.drainers.values():
                drainer.stop(max(0.0, deadline - time.monotonic()))
            for pool in self.pools.values():
                pool.close()
            if self.txn_ledger is not self.ledger:
                self.txn_ledger.close()
            self.ledger.close()
        finally:
            watchdog.cancel()

    def cut_ledger(self) -> None:
        """Cut both ledger connections under the calls waiting on them (`Ledger.cut`):
        for a stop past its bound. The worker is of no further use after it."""
        log.warning(
            "stopping: the ledger still busy at the stop's bound; its calls are cut: %d txn(s) left "
            "unsettled, neither acked nor PUBACKed: the broker hands them to this worker again",
            self.committer.unsettled,
        )
        self.ledger.cut()
        self.txn_ledger.cut()


@dataclass(frozen=True)
class _Ils:
    gateway: IlsGateway
    drainers: dict[str, IlsDrainer]
    pools: dict[str, Sip2Pool]


def build_hub(
    db_url: str,
    registry: Registry,
    config: HubConfig,
    clock: Callable[[], datetime],
    stats: WorkerStats,
    worker_name: str,
    send_ack: SendAck,
    sip2: Sip2Settings | None = None,
) -> HubParts:
    """Open the ledger at `db_url` and build the worker's parts on it. `stats` is the
    worker's counters (the intake adds to them); `send_ack` is how the sweeper answers a
    kiosk whose parked txn it settled; `worker_name` names the drainers' claims."""
    config.refuse_pepper_in_ledger()
    ledger = Ledger.open(db_url, config.pin_pepper_file)
    ils = _start_ils(ledger, registry, sip2, worker_name, clock)
    gateway = ils.gateway if ils is not None else None
    answers = RequestAnswers(
        ledger,
        registry,
        clock,
        local_tz=config.timezone,
        offline_max_items=config.offline_max_items,
        offline_limits=config.offline_limits,
        session_ttl=config.session_ttl,
        ils=gateway,
    )
    checks = IntakeChecks.from_config(config)
    txn_ledger = ledger.open_again()
    intake = Intake(ledger, registry, answers, clock, stats, checks, ils=gateway, txn_ledger=txn_ledger)
    committer = GroupCommitter(intake.handle_txns, send_ack, stats, config.commit_batch_max).start()
    sweeper = ParkedSweeper(
        ledger,
        registry,
        clock,
        checks.caps,
        intake.txn_bounds,
        send=send_ack,
        follow_up=gateway.follow_txn if gateway is not None else None,
    )
    parts = HubParts(ledger, answers, intake, sweeper, committer, txn_ledger, ils=gateway)
    if ils is not None:
        parts.drainers, parts.pools = ils.drainers, ils.pools
    return parts


def _start_ils(
    ledger: Ledger,
    registry: Registry,
    settings: Sip2Settings | None,
    worker_name: str,
    clock: Callable[[], datetime],
) -> _Ils | None:
    """The members' systems of `[sip2]`: one pool and one drainer thread per system
    that a member lives in; None without any."""
    if settings is None or not settings.members:
        return None
    routing = IlsRouting(
        registry,
        settings.members,
        {name: dict(system.guest_patrons) for name, system in settings.systems.items()},
    )
    for name in routing.systems:
        if not settings.systems[name].tls:
            log.warning("%s", plain_warning(settings.systems[name].label))
    pools = {name: Sip2Pool(settings.systems[name]) for name in routing.systems}
    drainers = {
        name: IlsDrainer(
            name, pool, ledger.ils_door(), worker_name, clock, live_grace_s=settings.live_checkout_grace_s
        )
        for name, pool in pools.items()
    }
    gateway = IlsGateway(routing, pools, ledger.ils_door(), clock, wake=lambda name: drainers[name].wake())
    for drainer in drainers.values():
        drainer.start()
    return _Ils(gateway, drainers, pools)
