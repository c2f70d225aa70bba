"""The SIP2 client's public face: what the hub builds on (issue 12).

    pool = Sip2Pool(system)                       # one per [sip2.systems.NAME]
    with pool.client() as c:
        info = c.patron_information("P123", pin="1234")
        result = c.checkout("P123", "B0001")

The parts live in modules with one job each: `system` (Sip2System), `errors`, `codec`
(frames), `dates`, `messages` (requests and answers), `transport` (socket, TLS,
deadlines), `session` (Sip2Client, the resend rule), `pool` (Sip2Pool, backoff),
`settings` (the `[sip2]` config tables). See docs/sip2.md.
"""

from __future__ import annotations

from hub.sip2.errors import (
    Sip2AnswerMismatch,
    Sip2ChecksumError,
    Sip2Error,
    Sip2ProtocolError,
    Sip2Unavailable,
)
from hub.sip2.messages import (
    CIRCULATION_STATUSES,
    CheckinResult,
    CheckoutResult,
    ItemInfo,
    LoanResult,
    PatronInfo,
    RenewResult,
    ScStatus,
)
from hub.sip2.pool import PoolState, Sip2Pool
from hub.sip2.session import Sip2Client
from hub.sip2.system import Sip2System

__all__ = [
    "CIRCULATION_STATUSES",
    "CheckinResult",
    "CheckoutResult",
    "ItemInfo",
    "LoanResult",
    "PatronInfo",
    "PoolState",
    "RenewResult",
    "ScStatus",
    "Sip2AnswerMismatch",
    "Sip2ChecksumError",
    "Sip2Client",
    "Sip2Error",
    "Sip2Pool",
    "Sip2ProtocolError",
    "Sip2System",
    "Sip2Unavailable",
]
