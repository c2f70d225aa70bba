"""SIP2 dates: what we write, and which due-date texts we can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.sip2.dates import format_sip_date, parse_due, parse_sip_date

BEIJING = timezone(timedelta(hours=8))


def test_we_write_local_time_with_a_blank_zone() -> None:
    assert format_sip_date(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), BEIJING) == "20261202    003000"
    assert format_sip_date(datetime(2026, 12, 1, 16, 30), BEIJING) == "20261201    163000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20270115    235959", datetime(2027, 1, 15, 23, 59, 59, tzinfo=BEIJING)),
        ("20270115   Z235959", datetime(2027, 1, 15, 23, 59, 59, tzinfo=UTC)),
        ("2027-01-15", datetime(2027, 1, 15, 23, 59, 59, tzinfo=BEIJING)),
        ("2027-01-15 10:30", datetime(2027, 1, 15, 10, 30, tzinfo=BEIJING)),
        ("20270115", datetime(2027, 1, 15, 23, 59, 59, tzinfo=BEIJING)),
        ("15/01/2027", None),
        ("due when you like", None),
        ("20271315    000000", None),
        ("20270115 XYZ000000", None),
        ("", None),
    ],
)
def test_due_dates_we_can_read_and_the_rest(text: str, expected: datetime | None) -> None:
    assert parse_due(text, BEIJING) == expected


def test_an_unknown_zone_is_not_guessed() -> None:
    assert parse_sip_date("20270115  ET235959", BEIJING) is None
