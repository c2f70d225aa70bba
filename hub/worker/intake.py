"""What a kiosk sends the hub, judged: txns, requests, state and telemetry payloads in,
acks and responses out. No MQTT here (`hub.worker.service` moves the bytes), so every rule below
is testable by calling it with bytes.

What a caller may rely on:

- Nothing a kiosk sends raises: a payload that fails validation is counted and logged
  (field names and reason codes only, never the payload: it may hold a card number).
- A txn is committed only when valid, sent on its own kiosk's topic, from a library the
  registry knows; otherwise it is rejected, and the rejection names the txn_id whenever
  one can be recovered, so the kiosk stops retrying it.
- With an `Enrolment` (`[hub] pki_dir`), a txn or request on the topic of a kiosk that
  is not enrolled or is revoked is refused (`kiosk_not_enrolled`, `kiosk_revoked`), and
  a txn naming another library than the kiosk's enrolled one is rejected
  (`library_mismatch`). Without one, any kiosk id is served (hub/worker/enrolment.py).
- Offline txns are bounded in time and due date (hub/ledger/txn_checks.py, `OfflineBounds`):
  outside the bounds they are committed as exceptions for staff. So is an online loan or
  renewal without a session token valid for its kiosk and card at its `at`, checked
  under the key of this intake's ledger (hub/ledger/session_tokens.py).
- What the hub hears from each kiosk (requests, txns, telemetry, its "online" state; a
  retained state replayed at the worker's start is not news) is kept as presence
  intervals, and its "offline" state closes one (hub/ledger/kiosk_presence.py): offline txns
  are judged against them (hub/ledger/txn_plausibility.py).
- A request always gets a `Response`: a failed one is `ok=False` with an error; a kiosk
  asking faster than its `RequestRateLimit` gets `error="rate_limited"`.
- What one kiosk can make the hub hold is bounded (docs/ordering.md, "Bounds"): a txn
  over the kiosk's txn rate (`IntakeChecks.txn_rate_limit`), or one more than its parked
  cap, gets no ack at all, so the kiosk sends it again later and nothing is lost; a txn
  opening one journal epoch too many in a day is rejected (`epochs_over_cap`). Each is
  counted, logged once per burst, and raises the kiosk's `over_cap` flag.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from contract import messages
from contract.privacy import mask_card
from hub.config import HubConfig
from hub.ils.ils_operations import IlsGateway
from hub.ledger.batch_commits import BatchTxn, TxnOutcome
from hub.ledger.kiosk_flags import OVER_CAP
from hub.ledger.kiosk_presence import PresenceWriter
from hub.ledger.ledger import Ledger
from hub.ledger.order_caps import OrderCaps
from hub.ledger.session_tokens import SessionTokens, session_key
from hub.ledger.txn_checks import OfflineBounds
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.enrolment import Enrolment
from hub.worker.rate_limit import RATE_LIMITED, RequestRateLimit, WarnEvery

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

KIOSK_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TXN_ID_RE = re.compile(r"^[0-9A-Za-z_-]{10,64}$")


@dataclass
class WorkerStats:
    """Counters a test or an operator can read. Two threads count (the commit thread,
    hub/worker/group_commit.py, and paho's), some into the same counters (`invalid`,
    `errors`, `rejected`): so they count with `count`, under a lock, never with `+=`,
    which loses increments between threads."""

    txns: int = 0
    committed: int = 0
    duplicates: int = 0
    rejected: int = 0
    parked: int = 0  # waited for a predecessor in their kiosk's order
    requests: int = 0
    invalid: int = 0
    errors: int = 0
    fleet_updates: int = 0
    rate_limited: int = 0  # requests answered "rate_limited"
    rejected_requests: int = 0  # requests from kiosks not enrolled, or revoked
    txns_rate_limited: int = 0  # txns over their kiosk's rate: not acked
    over_cap: int = 0  # txns refused by a cap on what a kiosk may leave waiting
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def count(self, counter: str, n: int = 1) -> None:
        """Add `n` to `counter` (a field above; a misspelt name raises)."""
        if counter.startswith("_") or not isinstance(getattr(self, counter, None), int):
            raise AttributeError(f"WorkerStats has no counter {counter!r}")
        with self._lock:
            setattr(self, counter, getattr(self, counter) + n)


@dataclass(frozen=True)
class IntakeChecks:
    """The hub-side checks one worker applies before it judges a payload (docs/security.md,
    "Hub-side checks"). The defaults: offline bounds, the order caps, no enrolment check,
    no rate limits."""

    bounds: OfflineBounds = field(default_factory=OfflineBounds)
    enrolment: Enrolment | None = None
    rate_limit: RequestRateLimit | None = None
    txn_rate_limit: RequestRateLimit | None = None
    caps: OrderCaps = field(default_factory=OrderCaps)

    @classmethod
    def from_config(cls, config: HubConfig) -> IntakeChecks:
        """A worker's checks from its settings (one rate limit of each kind per worker)."""
        return cls(
            bounds=OfflineBounds.from_config(config),
            enrolment=Enrolment(config.pki_dir) if config.pki_dir is not None else None,
            rate_limit=RequestRateLimit(config.request_rate_per_s, config.request_burst),
            txn_rate_limit=RequestRateLimit(config.txn_rate_per_s, config.txn_burst),
            caps=OrderCaps(
                max_parked_per_kiosk=config.max_parked_per_kiosk,
                max_epochs_per_day=config.max_epochs_per_day,
                parked_max_age=config.parked_max_age,
            ),
        )


def safe_kiosk(kiosk_id: str | None) -> str:
    """The kiosk id for a log line, or a placeholder when the topic held anything else
    (a hostile topic could carry a card number)."""
    return kiosk_id if kiosk_id and KIOSK_ID_RE.match(kiosk_id) else "<invalid-kiosk-id>"


def describe_request(request: messages.Request, response: messages.Response) -> str:
    """One line for `python -m hub --verbose`: the op, the masked card, the book, the outcome."""
    card = getattr(request, "card", None)
    item = getattr(request, "item", None)
    parts = [request.op]
    if card is not None:
        parts.append(f"card {mask_card(card.number)}")
    if item is not None:
        parts.append(f"item {item}")
    if not response.ok:
        outcome = f"failed: {response.error}"
    elif response.allowed is False:
        outcome = f"refused: {response.reason_code}"
    else:
        outcome = "answered"
    return f"{' '.join(parts)} -> {outcome}"


def recover_txn_id(raw: bytes) -> str | None:
    """The txn_id of a payload that failed validation, when one is there and well formed,
    so the kiosk gets a rejection instead of retrying for ever."""
    if len(raw) > messages.MAX_PAYLOAD_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        txn_id = data.get("txn_id")
        if isinstance(txn_id, str) and _TXN_ID_RE.match(txn_id):
            return txn_id
    return None


@dataclass(frozen=True)
class TxnAnswer:
    """What to send for one txn payload: `acks` (maybe none), or none because the ledger
    failed this txn alone (`error`, for the caller's log): the kiosk sends it again."""

    acks: list[messages.Ack]
    error: Exception | None = None


class Intake:
    """Handles one kiosk's payloads against one ledger. `kiosk_id` is always the id from
    the topic, already checked against `KIOSK_ID_RE` by the caller. Requests, state and
    telemetry use `ledger`; txns `txn_ledger` (the same one unless a second connection is
    given), so the two may be handled on two threads."""

    def __init__(
        self,
        ledger: Ledger,
        registry: Registry,
        answers: RequestAnswers,
        clock: Callable[[], datetime],
        stats: WorkerStats,
        checks: IntakeChecks | None = None,
        ils: IlsGateway | None = None,
        txn_ledger: Ledger | None = None,
    ) -> None:
        self.ledger = ledger
        # The connection txns are committed on (a worker's commit thread has its own, so
        # a batch's write transaction never holds up a request's reads); default: `ledger`.
        self.txn_ledger = txn_ledger or ledger
        self.registry = registry
        self.answers = answers
        self.clock = clock
        self.stats = stats
        self.checks = checks or IntakeChecks()
        # Members' own library systems: a committed txn about one of their books records
        # what that system is owed (hub/ils/ils_operations.py). None: the ledger alone.
        self.ils = ils
        self._bounds: OfflineBounds | None = None
        bounds = self.checks.bounds
        self.presence = PresenceWriter(gap=bounds.presence_margin, keep=bounds.window + timedelta(days=1))
        self._cap_warnings = WarnEvery()

    def txn_bounds(self) -> OfflineBounds:
        """The configured bounds, with the session tokens of this ledger's key (derived
        from its PIN pepper, as `RequestAnswers` issues them), made once."""
        if self._bounds is None:
            bounds = self.checks.bounds
            if bounds.sessions is None:
                bounds = replace(bounds, sessions=SessionTokens(session_key(self.ledger.pin_peppers().current)))
            self._bounds = bounds
        return self._bounds

    def handle_txn(self, kiosk_id: str, raw: bytes) -> list[messages.Ack]:
        """The acks to send to kiosk_id for one txn payload received on its topic: a batch
        of one (`handle_txns`). Raises what the ledger raised when it could not commit the
        txn (the kiosk sends it again)."""
        [answer] = self.handle_txns([(kiosk_id, raw)])
        if answer.error is not None:
            raise answer.error
        return answer.acks

    def handle_txns(self, arrivals: Sequence[tuple[str, bytes]]) -> list[TxnAnswer]:
        """One answer per (kiosk_id, txn payload) received on that kiosk's topic, in
        arrival order, the valid ones committed together in one database transaction
        (hub/ledger/batch_commits.py), each txn judged as if it came alone. A txn's acks:
        none while it waits for a predecessor (or has no recoverable txn_id to answer to);
        its own, then those of the waiting txns it released; none either when the kiosk is
        over its txn rate or parked cap (it sends the txn again after its resend interval),
        or when the ledger failed that txn alone (`TxnAnswer.error`). Raises when the
        batch's transaction failed: nothing of it was committed, no ack may be sent."""
        answers: list[TxnAnswer | None] = [None] * len(arrivals)
        batch: list[tuple[int, BatchTxn]] = []
        for i, (kiosk_id, raw) in enumerate(arrivals):
            admitted = self._admit_txn(kiosk_id, raw)
            if isinstance(admitted, messages.Txn):
                batch.append((i, BatchTxn(admitted, self.clock())))
            else:
                answers[i] = TxnAnswer(admitted)
        if batch:
            follow_up = self.ils.follow_txn if self.ils is not None else None
            outcomes = self.txn_ledger.commit_batch(
                [item for _, item in batch], self.registry, self.txn_bounds(), follow_up, self.checks.caps
            )
            if self.ils is not None and any(o.acks for o in outcomes):
                self.ils.wake_all()  # what the batch queued for members' systems is committed now
            for (i, item), outcome in zip(batch, outcomes, strict=True):
                answers[i] = self._settle_txn(item, outcome)
        return [answer for answer in answers if answer is not None]

    def _admit_txn(self, kiosk_id: str, raw: bytes) -> messages.Txn | list[messages.Ack]:
        """The txn to commit, or the acks that answer it without the ledger (a rejection,
        or none: over the kiosk's txn rate, no txn_id to answer to)."""
        self.stats.count("txns")
        if self._over_txn_rate(kiosk_id):
            return []
        try:
            txn = messages.parse(messages.Txn, raw)
        except messages.ProtocolError as exc:
            self.stats.count("invalid")
            txn_id = recover_txn_id(raw)
            log.warning("kiosk %s: invalid txn %s: %s", kiosk_id, txn_id or "(no txn_id)", exc.reason)
            if txn_id is None:
                return []
            self.stats.count("rejected")
            return [messages.Ack(txn_id=txn_id, result="rejected", reason=exc.reason[:300])]
        if txn.kiosk_id != kiosk_id:
            self.stats.count("rejected")
            log.warning("kiosk %s: txn %s names another kiosk; rejected", kiosk_id, txn.txn_id)
            return [messages.Ack(txn_id=txn.txn_id, result="rejected", reason="kiosk_id does not match topic")]
        enrolment = self.checks.enrolment
        problem = enrolment.problem(kiosk_id, txn.library_id) if enrolment is not None else None
        if problem is not None:
            self.stats.count("rejected")
            log.warning("kiosk %s: txn %s rejected: %s", kiosk_id, txn.txn_id, problem)
            return [messages.Ack(txn_id=txn.txn_id, result="rejected", reason=problem)]
        if txn.library_id not in self.registry.members:
            self.stats.count("rejected")
            log.warning("kiosk %s: txn %s from unknown library; rejected", kiosk_id, txn.txn_id)
            return [messages.Ack(txn_id=txn.txn_id, result="rejected", reason="library_unknown")]
        return txn

    def _settle_txn(self, item: BatchTxn, outcome: TxnOutcome) -> TxnAnswer:
        """A committed batch's answer for one of its txns: counted, logged, flagged."""
        txn, now, kiosk_id = item.txn, item.now, item.txn.kiosk_id
        if outcome.error is not None:
            return TxnAnswer([], outcome.error)
        refusal = outcome.refusal
        if refusal is not None:  # nothing of the txn kept
            self.stats.count("over_cap")
            if refusal.ack is not None:
                self.stats.count("rejected")
            if self._cap_warnings.due(f"{kiosk_id} {refusal.reason}"):  # once per burst
                log.warning(
                    "kiosk %s: txn %s refused (%s), %s; flagged %s",
                    kiosk_id, txn.txn_id, "rejected" if refusal.ack else "not acked", refusal.detail, OVER_CAP,
                )  # fmt: skip
                self.txn_ledger.raise_kiosk_flag(kiosk_id, OVER_CAP, refusal.detail, now)
            return TxnAnswer([refusal.ack] if refusal.ack is not None else [])
        acks = outcome.acks
        self._heard(kiosk_id, now, ledger=self.txn_ledger)  # after: a txn is not its own evidence
        if not acks:
            self.stats.count("parked")
            log.info("kiosk %s: txn %s waits for seq %s's predecessors", kiosk_id, txn.txn_id, txn.seq)
        for ack in acks:
            if ack.result == "committed":
                self.stats.count("committed")
            elif ack.result == "duplicate":
                self.stats.count("duplicates")
            else:
                self.stats.count("rejected")
            if ack.exception:
                log.info("kiosk %s: txn %s committed as exception %s", kiosk_id, ack.txn_id, ack.exception)
        return TxnAnswer(acks)

    def _over_txn_rate(self, kiosk_id: str) -> bool:
        """True when kiosk_id sends txns faster than its limit: counted; once per burst
        logged and the kiosk flagged."""
        limit = self.checks.txn_rate_limit
        if limit is None:
            return False
        allowed, warn = limit.take(kiosk_id)
        if allowed:
            return False
        self.stats.count("txns_rate_limited")
        if warn:
            detail = f"txn_rate: over {limit.rate_per_s:g} txns/s (burst {limit.burst})"
            log.warning("kiosk %s: %s: not acked (the kiosk sends them again); flagged %s", kiosk_id, detail, OVER_CAP)
            self.txn_ledger.raise_kiosk_flag(kiosk_id, OVER_CAP, detail, self.clock())
        return True

    def handle_request(self, kiosk_id: str, raw: bytes) -> messages.Response:
        """The answer to one request payload (a failed request is `ok=False`, never raised)."""
        self.stats.count("requests")
        refusal = self._request_refusal(kiosk_id)
        if refusal is not None:
            return messages.Response(ok=False, error=refusal)
        self._heard(kiosk_id, self.clock())
        try:
            request = messages.parse_request(raw)
        except messages.ProtocolError as exc:
            self.stats.count("invalid")
            log.warning("kiosk %s: invalid request: %s", kiosk_id, exc.reason)
            return messages.Response(ok=False, error=exc.reason[:300])
        try:
            response = self.answers.answer(request, kiosk_id)
        except Exception as exc:
            self.stats.count("errors")
            log.error("kiosk %s: %s failed: %s", kiosk_id, request.op, type(exc).__name__)
            return messages.Response(ok=False, error="internal_error")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("kiosk %s: %s", kiosk_id, describe_request(request, response))
        return response

    def _request_refusal(self, kiosk_id: str) -> str | None:
        """Why kiosk_id's request is not answered at all: its rate, or its enrolment."""
        limit = self.checks.rate_limit
        if limit is not None:
            allowed, warn = limit.take(kiosk_id)
            if not allowed:
                self.stats.count("rate_limited")
                if warn:
                    log.warning(
                        "kiosk %s: requests over %s/s (burst %s): answered %s",
                        kiosk_id, limit.rate_per_s, limit.burst, RATE_LIMITED,
                    )  # fmt: skip
                return RATE_LIMITED
        enrolment = self.checks.enrolment
        problem = enrolment.problem(kiosk_id) if enrolment is not None else None
        if problem is not None:
            self.stats.count("rejected_requests")
            log.warning("kiosk %s: request refused: %s", kiosk_id, problem)
        return problem

    def record_state(self, kiosk_id: str, raw: bytes, retained: bool = False) -> None:
        """Keep a kiosk's retained state; an empty payload (a cleared retained message)
        is ignored. A fresh "offline" state (the kiosk's will) ends its presence; a fresh
        "online" one, published on every (re)connect, ends the session before and begins
        another; a `retained` replay is not news about this moment."""
        if not raw:
            return
        state = self._fleet_message(kiosk_id, messages.KioskState, raw, "state")
        if state is not None:
            now = self.clock()
            self.ledger.record_state(kiosk_id, state, now)
            self.stats.count("fleet_updates")
            if not retained:
                self._heard(kiosk_id, now, session_began=True, still_there=state.state != "offline")

    def record_telemetry(self, kiosk_id: str, raw: bytes) -> None:
        """Keep a kiosk's telemetry (its clock offset bounded by `[hub] max_clock_offset_s`)."""
        telemetry = self._fleet_message(kiosk_id, messages.Telemetry, raw, "telemetry")
        if telemetry is not None:
            now = self.clock()
            limit = self.checks.bounds.max_clock_offset.total_seconds()
            self.ledger.record_telemetry(kiosk_id, telemetry, now, limit)
            self.stats.count("fleet_updates")
            self._heard(kiosk_id, now)

    def _heard(
        self,
        kiosk_id: str,
        now: datetime,
        session_began: bool = False,
        still_there: bool = True,
        ledger: Ledger | None = None,
    ) -> None:
        """Presence, best effort: a failed write never costs the message its answer.
        `session_began`: the kiosk's session before this moment ended (a state message);
        `still_there`: it is connected now; `ledger`: the connection of the calling thread
        (default: the requests'). Kiosks not enrolled leave no presence."""
        enrolment = self.checks.enrolment
        if enrolment is not None and enrolment.problem(kiosk_id) is not None:
            return
        ledger = ledger or self.ledger
        try:
            if session_began:
                ledger.record_gone(self.presence, kiosk_id, now)
            if still_there:
                ledger.record_heard(self.presence, kiosk_id, now)
        except Exception as exc:
            log.warning("kiosk %s: presence not recorded: %s", kiosk_id, type(exc).__name__)

    def _fleet_message(self, kiosk_id: str, model: type[M], raw: bytes, what: str) -> M | None:
        """The parsed state or telemetry, or None (counted and logged) when it is invalid."""
        try:
            return messages.parse(model, raw)
        except messages.ProtocolError as exc:
            self.stats.count("invalid")
            log.warning("kiosk %s: invalid %s: %s", kiosk_id, what, exc.reason)
            return None
