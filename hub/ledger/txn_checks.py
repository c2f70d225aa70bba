"""Bounds on offline txns: what a kiosk may claim about a loan it made without the hub.

An offline txn already happened in the reader's hands, so the hub never drops it; but
its `at` and `due` come from the kiosk alone. A txn outside these bounds is committed as
an exception for staff (`hub.ledger.commits`), never as a clean commit:

- `due_beyond_loan_period`: an offline loan (renewal) promises a due date later than the
  rule's: `loan_days` (`renew_days`) of the card's scheme from its `at` as the hub placed
  it (hub.ledger.txn_clock: corrected, never after the hub's receipt), end of that Beijing day.
  The ledger keeps the rule's date, not the kiosk's.
- `at_in_future`: `at` (corrected by the kiosk's measured clock offset) is more than
  `skew` past the hub's clock.
- `at_beyond_offline_window`: `at` is older than the kiosk's offline window
  (`[hub] offline_window_days`).

Where the ledger places a txn on the hub's clock, and the kiosk's clock bound
(`kiosk_clock_off`, `at_before_last_row`), is `hub.ledger.txn_clock`; what an offline loan or a
return may claim beyond time (`offline_while_online`, the offline limits, returns that
cannot be true) is `hub.ledger.txn_plausibility`. This class holds all their limits.

Online txns are judged by the hub at the moment they arrive, with one bound here: an
online loan or renewal must carry the session token the hub issued when the card
authenticated at this kiosk (hub/ledger/session_tokens.py), valid at the txn's `at` (corrected
by the kiosk's clock offset, so a loan that reaches the hub late after an outage still
commits cleanly). Missing, forged, for another kiosk or card, or expired at `at`, it is
committed as an exception for staff, like the offline bounds (`no_session_token`,
`session_token_invalid`, `session_token_expired`).

The token is judged against the hub's receipt too (`session_token_expired_at_receipt`):
a token already expired when the txn reaches the hub is excused only by an outage the
hub itself saw. The rule: the hub heard nothing from the kiosk from `presence_margin`
after the txn's `at` until `late_grace` before its receipt. A loan made online and held
in the kiosk's journal through an outage passes (the kiosk was silent, then delivered
its journal on reconnecting); a kiosk that stayed connected and sends a stale token with
`at` set back inside its window does not. (Validity at `at` and `at` not before the
token's issue still apply first.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contract import messages
from hub.config import HubConfig
from hub.ledger.session_tokens import SESSION_TOKEN_EXPIRED_AT_RECEIPT, SessionTokens
from hub.rules import rules
from hub.rules.offline_limits import OfflineLimits
from hub.rules.registry import Registry, RegistryError

DUE_BEYOND_LOAN_PERIOD = "due_beyond_loan_period"
AT_IN_FUTURE = "at_in_future"
AT_BEYOND_OFFLINE_WINDOW = "at_beyond_offline_window"

DEFAULT_OFFLINE_WINDOW_DAYS = 7
# NTP keeps kiosks within milliseconds; five minutes leaves room for a kiosk whose
# offset the hub has not measured yet, and none for a dated-ahead journal.
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class OfflineBounds:
    """How far an offline txn's `at` may lie from the hub's clock, and the session tokens
    online loans and renewals are checked against (None: not checked, for callers
    outside the wire such as tests of the rules; `hub.worker.intake` always sets them); the
    kiosk clock bound and the plausibility limits (`[hub]` keys of the same names,
    docs/configuration.md). The defaults are the settings' defaults."""

    window: timedelta = timedelta(days=DEFAULT_OFFLINE_WINDOW_DAYS)
    skew: timedelta = FUTURE_SKEW
    sessions: SessionTokens | None = None
    max_clock_offset: timedelta = timedelta(seconds=300)
    presence_margin: timedelta = timedelta(seconds=10)
    late_grace: timedelta = timedelta(seconds=120)
    offline_max_items: int = 3
    van_offline_max_items: int = 3
    van_kiosks: tuple[str, ...] = ()
    offline_limit_period: timedelta = timedelta(hours=24)
    offline_loans_per_kiosk_hour: int = 240
    return_min_interval: timedelta = timedelta(seconds=600)
    returns_per_minute: int = 120

    def offline_max_items_at(self, kiosk_id: str) -> int:
        """Offline loans per card allowed at `kiosk_id` (a van's when the hub lists it)."""
        return OfflineLimits(self.offline_max_items, self.van_offline_max_items, self.van_kiosks).max_items(kiosk_id)

    @classmethod
    def of_days(cls, window_days: int) -> OfflineBounds:
        return cls(window=timedelta(days=window_days))

    @classmethod
    def from_config(cls, config: HubConfig) -> OfflineBounds:
        """The bounds a worker's settings give."""
        return cls(
            window=timedelta(days=config.offline_window_days),
            max_clock_offset=timedelta(seconds=config.max_clock_offset_s),
            presence_margin=timedelta(seconds=config.offline_presence_margin_s),
            late_grace=timedelta(seconds=config.late_txn_grace_s),
            offline_max_items=config.offline_max_items,
            van_offline_max_items=config.van_offline_max_items,
            van_kiosks=tuple(config.van_kiosks),
            offline_limit_period=timedelta(hours=config.offline_limit_hours),
            offline_loans_per_kiosk_hour=config.offline_loans_per_kiosk_hour,
            return_min_interval=timedelta(seconds=config.return_min_interval_s),
            returns_per_minute=config.returns_per_minute,
        )

    def time_problem(self, told_at: datetime, now: datetime) -> str | None:
        """The reason code when `told_at` (the kiosk's `at`, corrected by its clock
        offset, timezone-aware) lies outside the bounds, else None."""
        if told_at > now + self.skew:
            return AT_IN_FUTURE
        if told_at < now - self.window:
            return AT_BEYOND_OFFLINE_WINDOW
        return None


def loan_due_limit(registry: Registry, scheme_id: str, at: datetime) -> datetime | None:
    """The latest due date the scheme's rules give a loan made at `at` (None: scheme
    unknown, nothing to bound by)."""
    try:
        scheme = registry.scheme(scheme_id)
    except RegistryError:
        return None
    return rules.due_after(at, scheme.loan_days)


def renew_due_limit(registry: Registry, scheme_id: str, at: datetime, current_due: datetime) -> datetime | None:
    """The latest due date the scheme's rules give a renewal at `at` of a loan due
    `current_due` (as `rules.renew_decision`: never earlier than the current due)."""
    try:
        scheme = registry.scheme(scheme_id)
    except RegistryError:
        return None
    return max(current_due, rules.due_after(at, scheme.renew_days))


# (start, end) -> whether the hub heard the txn's kiosk at some moment in [start, end].
HeardBetween = Callable[[datetime, datetime], bool]


def session_problem(
    bounds: OfflineBounds,
    txn: messages.Txn,
    told_at: datetime,
    received_at: datetime | None = None,
    heard_between: HeardBetween | None = None,
) -> str | None:
    """The reason code when an online loan or renewal lacks a session token valid for its
    kiosk and card at `told_at` (its `at` on the hub's clock), or carries one that had
    expired when the hub received it at `received_at` without an outage to explain the
    delay (the module doc's rule; `heard_between` asks the hub's presence record), else
    None. Other txns, and bounds without `sessions`, are not checked."""
    sessions = bounds.sessions
    if sessions is None or txn.mode != "online" or txn.kind not in ("loan", "renew") or txn.card is None:
        return None
    problem = sessions.problem(txn.session_token, txn.kiosk_id, txn.card.scheme, txn.card.number, told_at)
    if problem is not None or received_at is None or heard_between is None:
        return problem
    expires = sessions.expires_at(txn.session_token)
    if expires is None or received_at <= expires:
        return None
    silent_from = told_at + bounds.presence_margin
    silent_until = received_at - bounds.late_grace
    if heard_between(silent_from, silent_until):
        return SESSION_TOKEN_EXPIRED_AT_RECEIPT
    return None
