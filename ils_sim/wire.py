"""SIP2 fields pysip2 does not model, added by extension rather than by patching it.

pysip2 0.1.0's checkin response (10) has no CT (destination location) and no CV (alert
type), the 3M extensions a sorter or a consortium hub reads to route a returned item.
`RoutedCheckinResponse` is a subclass of pysip2's `CheckinResponse` with both fields, and
its layout is registered under that new type in pysip2's type-to-layout table, which its
encoder consults. Nothing existing changes: the table gains one key, decoding (by command
id) is untouched, and pysip2's server accepts the subclass because it checks handler
results with `isinstance`.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from pysip2 import CheckinResponse
from pysip2.models import MESSAGE_SPECS_BY_TYPE, FieldSpec, MessageSpec, spec_for_type

CT = "CT"  # destination location
CV = "CV"  # alert type: 01 hold here, 02 hold at another location, 04 send to another library

ALERT_TYPE = Annotated[str, Meta(pattern=r"^[0-9]{2}$", min_length=2, max_length=2)]


class RoutedCheckinResponse(CheckinResponse, frozen=True, kw_only=True):
    """``10`` with CT (destination location) and CV (alert type)."""

    destination_location: str | None = None  # CT optional
    alert_type: ALERT_TYPE | None = None  # CV optional


def _routed_layout() -> MessageSpec:
    base = spec_for_type(CheckinResponse)
    fields = list(base.fields)
    # After the item's own fields, before the screen message and print line (AF, AG).
    at = next(i for i, f in enumerate(fields) if f.field_id == "AF")
    fields[at:at] = [
        FieldSpec("destination_location", CT),
        FieldSpec("alert_type", CV),
    ]
    return MessageSpec(base.command_id, RoutedCheckinResponse, tuple(fields))


MESSAGE_SPECS_BY_TYPE.setdefault(RoutedCheckinResponse, _routed_layout())
