"""The worker's commit thread: txns queue here as paho hands them over, and one thread
commits what has queued up as one batch, in one database transaction
(`Intake.handle_txns`, hub/ledger/batch_commits.py), so a flood of txns shares its fsyncs
instead of paying one each.

What a caller may rely on:

- `submit` never blocks and never touches the database, so paho's network thread goes
  straight back to reading: requests, state and telemetry are answered on it as before,
  on the worker's other ledger connection, and never wait behind a batch.
- A batch is what queued up while the previous one was being committed, in arrival
  order, at most `max_batch` txns. The thread never waits for company: a lone txn is
  committed the moment it arrives, as fast as before.
- Acks follow the commit. A batch's acks are published only once its transaction has
  committed; then every txn of the batch is `settle`d (the worker's PUBACK to the
  broker), committed, refused or failed alike, so the broker's in-flight window never
  fills with txns the hub has finished with. A txn the ledger failed alone gets no ack
  (the kiosk's journal sends it again); a batch whose transaction failed gets none at
  all. A txn the hub never finished (the process died) was never PUBACKed: the broker
  hands it to this worker's session again.
- `drain()` returns once everything submitted before it is settled; `stop()` settles
  what is queued, then ends the thread (idempotent).
- `stop()` is bounded: a thread still inside a batch at its timeout (the database does
  not answer: a frozen server, a connection left half-open) is told to leave the rest,
  and `stop()` returns False after logging how many txns were left unsettled. Those got
  no ack and no PUBACK, so nothing is lost: the broker hands them to this worker's
  session again, and the kiosks' journals send them again. Whoever owns the thread's
  database connection then cuts it (hub/worker/assembly.py), and `ended()` waits for
  the thread to come out.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contract import messages
from hub.worker.intake import TxnAnswer, WorkerStats, safe_kiosk

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 256

CommitTxns = Callable[[Sequence[tuple[str, bytes]]], list[TxnAnswer]]
"""Commit (kiosk id, txn payload)s as one batch: one answer each (`Intake.handle_txns`)."""

SendAck = Callable[[str, messages.Ack], None]


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Arrival:
    """One txn payload off the broker: its kiosk (from the topic), its bytes, and how to
    tell the broker the hub is done with it (its PUBACK)."""

    kiosk_id: str
    payload: bytes
    settle: Callable[[], None] = _nothing


class GroupCommitter:
    """Commits submitted txns in batches on a thread of its own (see the module doc)."""

    def __init__(
        self,
        commit: CommitTxns,
        send_ack: SendAck,
        stats: WorkerStats,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit = commit
        self._send_ack = send_ack
        self._stats = stats
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Arrival | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._leave = threading.Event()  # stop() gave up waiting: commit no further batch
        self._stopped_thread: threading.Thread | None = None
        self._submitted = 0
        self._settled = 0
        self.batches = 0  # batches committed (or failed): with `settled`, the mean batch size

    @property
    def settled(self) -> int:
        return self._settled

    @property
    def unsettled(self) -> int:
        """Txns submitted and not yet settled: neither acked nor PUBACKed so far."""
        with self._progress:
            return self._submitted - self._settled

    def start(self) -> GroupCommitter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hub-group-commit", daemon=True)
            self._thread.start()
        return self

    def submit(self, arrival: Arrival) -> None:
        """Queue one txn payload for the next batch (never blocks)."""
        with self._progress:
            self._submitted += 1
        self._queue.put(arrival)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every txn submitted before this call is settled; False on timeout."""
        with self._progress:
            target = self._submitted
            return self._progress.wait_for(lambda: self._settled >= target, timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Settle what is queued, then end the thread (idempotent). False when the thread
        was still inside a batch after `timeout`: then it commits no further batch, and
        what it did not settle is logged and left to the broker (see the module doc)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return self.ended(0)
        self._stopped_thread = thread
        self._queue.put(None)
        thread.join(timeout)
        if not thread.is_alive():
            return True
        self._leave.set()
        left = self.unsettled
        log.warning(
            "commit thread still inside a batch after %gs (the database does not answer): %d txn(s) left "
            "unsettled, neither acked nor PUBACKed: the broker hands them to this worker again",
            timeout, left,
        )  # fmt: skip
        return False

    def ended(self, timeout: float) -> bool:
        """Wait up to `timeout` for a stopped thread to come out; True once it has."""
        thread = self._stopped_thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None or self._leave.is_set():
                return
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit_and_settle(batch)
            if stopping or self._leave.is_set():
                return

    def _commit_and_settle(self, batch: list[Arrival]) -> None:
        """Commit one batch; its acks once committed; then every PUBACK of it."""
        try:
            answers = self._commit([(a.kiosk_id, a.payload) for a in batch])
        except Exception as exc:  # the transaction failed: nothing of the batch committed
            self._stats.count("errors", len(batch))
            log.error("batch of %d txns not committed (no ack sent; kiosks resend): %s", len(batch), type(exc).__name__)
            answers = []
        for arrival, answer in zip(batch, answers, strict=False):
            if answer.error is not None:
                self._stats.count("errors")
                log.error("kiosk %s txn: handler failed: %s", safe_kiosk(arrival.kiosk_id), type(answer.error).__name__)
            for ack in answer.acks:
                try:
                    self._send_ack(arrival.kiosk_id, ack)
                except Exception as exc:  # committed all the same: the kiosk's resend gets "duplicate"
                    log.warning("kiosk %s: ack not sent: %s", safe_kiosk(arrival.kiosk_id), type(exc).__name__)
        for arrival in batch:
            try:
                arrival.settle()
            except Exception as exc:  # a PUBACK not sent: the broker sends the txn again
                log.warning("PUBACK not sent: %s", type(exc).__name__)
        self.batches += 1
        with self._progress:
            self._settled += len(batch)
            self._progress.notify_all()
