"""Bounds on offline txns: what a kiosk may claim about a loan it made without the hub.

An offline txn already happened in the reader's hands, so the hub never drops it; but
its `at` and `due` come from the kiosk alone. A txn outside these bounds is committed as
an exception for staff (`hub.commits`), never as a clean commit:

- `due_beyond_loan_period`: an offline loan (renewal) promises a due date later than the
  rule's: `loan_days` (`renew_days`) of the card's scheme from `at`, end of that Beijing
  day. The ledger keeps the rule's date, not the kiosk's.
- `at_in_future`: `at` (corrected by the kiosk's measured clock offset) is more than
  `skew` past the hub's clock.
- `at_beyond_offline_window`: `at` is older than the kiosk's offline window
  (`[hub] offline_window_days`).

Online txns are judged by the hub at the moment they arrive, with one bound here: an
online loan or renewal must carry the session token the hub issued when the card
authenticated at this kiosk (hub/session_tokens.py), valid at the txn's `at` (corrected
by the kiosk's clock offset, so a loan that reaches the hub late after an outage still
commits cleanly). Missing, forged, for another kiosk or card, or expired at `at`, it is
committed as an exception for staff, like the offline bounds (`no_session_token`,
`session_token_invalid`, `session_token_expired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contract import messages
from hub import rules
from hub.registry import Registry, RegistryError
from hub.session_tokens import SessionTokens

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
    outside the wire such as tests of the rules; `hub.intake` always sets them)."""

    window: timedelta = timedelta(days=DEFAULT_OFFLINE_WINDOW_DAYS)
    skew: timedelta = FUTURE_SKEW
    sessions: SessionTokens | None = None

    @classmethod
    def of_days(cls, window_days: int) -> OfflineBounds:
        return cls(window=timedelta(days=window_days))

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


def session_problem(sessions: SessionTokens | None, txn: messages.Txn, told_at: datetime) -> str | None:
    """The reason code when an online loan or renewal lacks a session token valid for its
    kiosk and card at `told_at` (its `at` on the hub's clock), else None; other txns,
    and callers without `sessions`, are not checked."""
    if sessions is None or txn.mode != "online" or txn.kind not in ("loan", "renew") or txn.card is None:
        return None
    return sessions.problem(txn.session_token, txn.kiosk_id, txn.card.scheme, txn.card.number, told_at)
