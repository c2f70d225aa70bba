"""Hands parked txns that waited too long to staff, in each hub worker: once at start,
then every `every_s` (a tenth of `[hub] parked_max_age_h`, at most ten minutes).

A txn is parked while it waits for a predecessor in its kiosk's journal order
(hub/ledger/ordering.py). A predecessor that has not come in `parked_max_age_h` (24 h by
default) is not coming soon: the kiosk lost that journal, or it is hostile. Then the
parked txns are committed as `parked_too_long` exceptions for staff and the kiosk's order
goes on after them (hub/ledger/commits.py, `sweep_parked`); the acks are sent at once (`send`).

What a caller may rely on: `sweep()` may run in any number of workers at once (each
parked txn is taken out of `parked` in the transaction that commits it, so it is
committed once); a failing sweep (the database away) is logged and tried again at the
next interval; `stop()` is idempotent and waits for a sweep under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from contract import messages
from hub.ledger.commits import TxnFollowUp
from hub.ledger.ledger import Ledger
from hub.ledger.order_caps import OrderCaps
from hub.ledger.txn_checks import OfflineBounds
from hub.rules.registry import Registry

log = logging.getLogger(__name__)

MAX_EVERY_S = 600.0


class ParkedSweeper:
    """One worker's sweep of stale parked txns, on a thread of its own."""

    def __init__(
        self,
        ledger: Ledger,
        registry: Registry,
        clock: Callable[[], datetime],
        caps: OrderCaps,
        bounds: Callable[[], OfflineBounds],
        send: Callable[[str, messages.Ack], None],
        follow_up: TxnFollowUp | None = None,
        every_s: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self.clock = clock
        self.caps = caps
        self.bounds = bounds
        self.send = send
        self.follow_up = follow_up
        self.every_s = every_s or max(1.0, min(MAX_EVERY_S, caps.parked_max_age.total_seconds() / 10))
        self.swept = 0  # txns this sweeper applied (a test or an operator can read it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ParkedSweeper:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="parked-sweeper", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def sweep(self) -> int:
        """Commit the stale parked txns now and send their acks; how many were applied."""
        sent = self.ledger.sweep_parked(self.registry, self.clock(), self.caps, self.bounds(), self.follow_up)
        for kiosk_id, ack in sent:
            self.send(kiosk_id, ack)
        self.swept += len(sent)
        return len(sent)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # the database went away for a moment: next time
                log.error("sweep of parked txns failed: %s", type(exc).__name__)
            self._stop.wait(self.every_s)
