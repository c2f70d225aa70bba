"""Sends each member's library system the calls it is owed (`ils_queue`, state
`queued`), oldest first, once it answers again: one thread per system in each hub worker
(hub/worker/service.py), of which one at a time holds the system's lease (`ils_links`).

The one rule, on one clock (monotonic), with one owner (this thread):
- the owed call told earliest (`at`) is sent first, the next one only after it is
  settled, so the system sees a book's loan before its return, as readers were told,
  even when a kiosk's backlog reaches the hub late; a call older than one about the same
  book the system already settled is superseded, not sent (hub/ledger/ils_queue.py);
- a send is counted (`attempts`) just before its request begins to leave
  (`Sip2Client.before_request`), after the connection and login, so an answer lost on
  the way still counts: if the retry is then answered "item not checked out" (a checkin)
  or the book is already on the patron's record (a checkout), the first send arrived:
  delivered. A try that never reached the system (pool in backoff, connect refused, TLS
  or login failed) is no send: it counts nothing, so after an outage a first send is
  still judged as one. A worker that dies between counting and sending leaves a send
  counted that never left: "maybe sent", as any send whose answer never came. A live
  checkin whose answer was lost reaches the queue with its send counted
  (hub/ledger/ils_live_checkin.py), so the drainer's 09 is such a retry;
- `Sip2Unavailable`: the system is down; the call stays first in line and the thread
  waits a backoff doubling from `backoff_min_s` to `backoff_max_s`, then tries again
  (the backoff is the thread's and the pool's, not `attempts`);
- `Sip2ProtocolError` (the system found the request invalid): sent `max_invalid` times,
  then a conflict, so one bad call cannot hold a system's queue for ever; tries during
  an outage spend none of them;
- the system refuses (item not checked out on a first send of a return that ends a loan
  it was told of, patron blocked, book out to someone else): a conflict, and an
  exception row for staff (`hub status`, the exceptions table); never dropped. "Not
  checked out" to a return that ends no loan the system was told of (a return heard
  before its loan, whose 11 is then superseded) is what the hub told it: delivered;
- with nothing owed, a live checkout that no loan txn claimed within `live_grace_s`
  (`[sip2] live_checkout_grace_s`, hub/ledger/ils_live.py) is checked back in (09), one at a
  time, unless the ledger's own loan of the book or a later checkout of it stands; its
  09s are counted as a queued call's sends are (an outage counts none, `max_invalid`
  sends refused as invalid give it up), and "item not checked out" after an earlier 09
  (or to our client's own resend) is that 09's echo: checked in. A refused first 09 is a
  conflict with an exception row for staff; the thread wakes when the oldest open live
  checkout comes due;
- with nothing owed, an SC status (99) every `keepalive_s` keeps `hub status`'s link
  state true; `wake()` (a txn just queued a call) sends at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hub.ils.ils_operations import ClientPool
from hub.ledger.ils_door import IlsLedger
from hub.ledger.ils_live import LiveCheckout
from hub.ledger.ils_queue import QueuedCall
from hub.sip2.client import Sip2Error, Sip2ProtocolError, Sip2Unavailable
from hub.sip2.settings import DEFAULT_GRACE_S

log = logging.getLogger(__name__)


class _CountedSend:
    """One call's send, counted in the ledger (`attempts`) as `Sip2Client.before_request`
    runs `count`: just before the request leaves, never for a try that could not reach
    the system; `sent` says whether it did this time."""

    def __init__(self, ledger: IlsLedger, call_id: int) -> None:
        self._ledger, self._call_id = ledger, call_id
        self.sent = False

    def count(self) -> None:
        self._ledger.begin_attempt(self._call_id)
        self.sent = True


class IlsDrainer:
    """The drainer of one system; `start()` / `stop()` (idempotent)."""

    def __init__(
        self,
        system: str,
        pool: ClientPool,
        ledger: IlsLedger,
        worker: str,
        clock: Callable[[], datetime],
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        keepalive_s: float = 30.0,
        lease_s: float = 30.0,
        max_invalid: int = 3,
        live_grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self.system = system
        self.pool = pool
        self.ledger = ledger
        self.worker = worker
        self.clock = clock
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.keepalive_s = keepalive_s
        self.lease = timedelta(seconds=lease_s)
        self.max_invalid = max_invalid
        self.live_grace = timedelta(seconds=live_grace_s)
        self.checked_back_in = 0
        self.delivered = 0  # counters a test or an operator can read
        self.conflicts = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = 0.0
        self._last_check = float("-inf")

    def start(self) -> IlsDrainer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"ils-drain-{self.system}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        try:
            self.ledger.release_lease(self.system, self.worker)
        except Exception:
            log.debug("could not release the lease of %s", self.system, exc_info=True)

    def wake(self) -> None:
        """A call was queued: send it now rather than at the next poll."""
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # the database went away for a moment: log, wait, go on
                log.exception("SIP2 drainer of %s", self.system)
                wait = self.backoff_max_s
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def step(self) -> float:
        """Do one thing, and say how long to wait before the next (0: at once)."""
        now = self.clock()
        if not self.ledger.take_lease(self.system, self.worker, now, self.lease):
            return self.lease.total_seconds() / 2
        call = self.ledger.next_queued(self.system, now)
        if call is None:
            expired = self.ledger.next_expired_checkout(self.system, now - self.live_grace)
            if expired is not None:
                try:
                    self.check_back_in(expired)
                except Sip2Unavailable as exc:
                    self.ledger.retry_checkout_later(expired, str(exc))
                    return self._down(str(exc))
                self._backoff = 0.0
                return 0.0
            if time.monotonic() - self._last_check >= self.keepalive_s:
                self._check_link()
            return min(self.keepalive_s, self.lease.total_seconds() / 2, self._until_live_due(now))
        try:
            self.send(call)
        except Sip2Unavailable as exc:
            self.ledger.note_error(call.id, str(exc))
            return self._down(str(exc))
        self._backoff = 0.0
        return 0.0

    def _down(self, error: str) -> float:
        self.ledger.note_link(self.system, False, self.clock(), error)
        self._backoff = min(self.backoff_max_s, max(self.backoff_min_s, self._backoff * 2))
        return self._backoff

    def _until_live_due(self, now: datetime) -> float:
        """Seconds until the oldest open live checkout passes its grace (inf: none)."""
        oldest = self.ledger.oldest_open_checkout(self.system)
        if oldest is None:
            return float("inf")
        return max(0.05, (oldest + self.live_grace - now).total_seconds())

    def check_back_in(self, call: LiveCheckout) -> None:
        """A live checkout no loan txn claimed: check it back in (09) and record why, or
        leave it when something else stands (hub/ledger/ils_live.py). Sip2Unavailable leaves it
        open for the next try."""
        why_not = self.ledger.standing_instead(call)
        if why_not is not None:
            self.ledger.settle_checkout(call, why_not[0], why_not[1], self.clock())
            return
        if not self.ledger.begin_checkin(call, self.clock()):
            return  # its txn claimed it just now
        grace = int(self.live_grace.total_seconds())
        why = f"no loan txn from kiosk {call.kiosk_id or '-'} within {grace} s of the checkout"
        earlier = call.checkin_sends > 0  # an earlier 09 may have checked it in
        send = _CountedSend(self.ledger, call.id)
        try:
            with self.pool.client() as client, client.before_request(send.count):
                result = client.checkin(call.item, at=self.clock(), current_location=call.library_id, no_block=True)
                echo = earlier or client.sent_twice  # a "not checked out" may answer our own 09
        except Sip2ProtocolError as exc:
            self.ledger.note_link(self.system, True, self.clock(), str(exc))
            if call.checkin_sends + int(send.sent) >= self.max_invalid:
                self.ledger.settle_checkout(call, "conflict", f"{why}; the 09 kept failing: {exc}", self.clock())
            else:
                self.ledger.retry_checkout_later(call, str(exc))
            return
        except Sip2Unavailable:
            raise
        except Sip2Error as exc:
            raise Sip2Unavailable(str(exc)) from exc
        self.ledger.note_link(self.system, True, self.clock())
        if result.ok or echo:
            done = "checked back in (09)" if result.ok else "answered not checked out after an earlier 09: taken as checked in"
            self.ledger.settle_checkout(call, "checked_in", f"{why}: {done}", self.clock())
            self.checked_back_in += 1
            log.warning("SIP2 %s: live checkout %s of item %s checked back in: %s", self.system, call.id, call.item, why)
        elif call.state == "pending":
            self.ledger.settle_checkout(call, "not_lent", f"{why}: the system had not lent it", self.clock())
        else:
            words = result.screen_message or "no reason given"
            self.ledger.settle_checkout(call, "conflict", f"{why}; the 09 was refused: {words}", self.clock())
            self.conflicts += 1
            log.warning("SIP2 %s: live checkout %s could not be checked back in: staff", self.system, call.id)

    def send(self, call: QueuedCall) -> None:
        """Send one owed call and settle it; Sip2Unavailable leaves it owed. The send is
        counted (`begin_attempt`) just before its request leaves, never for a try that
        could not reach the system, so `call.attempts` counts only sends that may have
        arrived (`earlier`) and only they spend `max_invalid`."""
        earlier = call.attempts > 0  # an earlier send may have arrived
        send = _CountedSend(self.ledger, call.id)
        try:
            with self.pool.client() as client, client.before_request(send.count):
                self._deliver(client, call, earlier)
        except Sip2ProtocolError as exc:
            self.ledger.note_error(call.id, str(exc))
            self.ledger.note_link(self.system, True, self.clock(), str(exc))
            if call.attempts + int(send.sent) >= self.max_invalid:
                self._conflict(call, "ils_invalid_request", f"the system found the request invalid: {exc}")
            return
        except Sip2Unavailable:
            raise
        except Sip2Error as exc:  # any other client fault: as if down, retried later
            raise Sip2Unavailable(str(exc)) from exc
        self.ledger.note_link(self.system, True, self.clock())

    def _deliver(self, client: Any, call: QueuedCall, earlier: bool) -> None:
        if call.op == "checkin":
            result = client.checkin(call.item, at=call.at, current_location=call.library_id, no_block=True)
            if result.ok:
                self._delivered(call)
            elif earlier or client.sent_twice:  # our client's own resend counts as a send
                self._delivered(call, "answered not checked out after an earlier send: taken as arrived")
            elif (agrees := self.ledger.checkin_refusal_agrees(call)) is not None:
                self._delivered(call, agrees)  # the system has it in, as the hub told it
            else:
                self._conflict(
                    call, "ils_checkin_refused", f"not checked in: {result.screen_message or 'no reason given'}"
                )
            return
        assert call.patron_id is not None
        if call.op == "checkout":
            result = client.checkout(call.patron_id, call.item, at=call.at, no_block=True)
            if result.ok:
                self._delivered(call, due=result.due_date)
                return
            patron = client.patron_information(call.patron_id)
            if call.item in patron.charged_items:
                self._delivered(call, "already out to this patron: taken as arrived")
            elif patron.blocked:
                self._conflict(call, "ils_patron_blocked", f"patron blocked: {result.screen_message or ''}")
            else:
                self._conflict(
                    call, "ils_checkout_refused", f"not lent: {result.screen_message or 'no reason given'}"
                )
            return
        result = client.renew(call.patron_id, call.item, at=call.at)
        if result.ok:
            self._delivered(call, due=result.due_date)
        else:
            self._conflict(call, "ils_renew_refused", f"not renewed: {result.screen_message or 'no reason given'}")

    def _delivered(self, call: QueuedCall, note: str | None = None, due: datetime | None = None) -> None:
        self.ledger.mark_delivered(call.id, self.clock(), due=due, note=note)
        self.delivered += 1
        log.info("SIP2 %s: %s of item delivered (call %s)", self.system, call.op, call.id)

    def _conflict(self, call: QueuedCall, reason: str, words: str) -> None:
        summary = f"SIP2 system {self.system}: {call.op} of item {call.item} (txn {call.txn_id}): {words}"
        self.ledger.mark_conflict(call, reason, summary, self.clock())
        self.conflicts += 1
        log.warning("SIP2 %s: call %s is a conflict for staff: %s", self.system, call.id, reason)

    def _check_link(self) -> None:
        self._last_check = time.monotonic()
        try:
            with self.pool.client() as client:
                client.sc_status()
        except Sip2Error as exc:
            self.ledger.note_link(self.system, False, self.clock(), str(exc))
            return
        self.ledger.note_link(self.system, True, self.clock())
