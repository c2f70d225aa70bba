"""SIP2's 18-character dates: `YYYYMMDDZZZZHHMMSS`.

ZZZZ is four spaces for the ACS's local time, or a right-aligned zone; in practice only
`   Z` (UTC) is seen besides blanks, and pysip2 refuses anything but capital letters or
spaces there. We always write local time with four blanks (the form every ILS reads),
converting aware datetimes to the system's local zone first.

Due dates (AH) are free text in practice: many ILSs send `YYYY-MM-DD` or a sentence.
`parse_due` reads the 18-character form and a few common ones, and callers keep the raw
text for everything else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

_SIP_DATE = re.compile(r"(\d{8})([A-Z ]{4})(\d{6})")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_ZONES: dict[str, tzinfo] = {"Z": UTC, "UTC": UTC, "GMT": UTC}


def format_sip_date(when: datetime, local_tz: tzinfo) -> str:
    """`when` as 18 characters in the ACS's local time (ZZZZ blank). A naive datetime is
    taken to be in `local_tz` already."""
    if when.tzinfo is not None:
        when = when.astimezone(local_tz)
    return when.strftime("%Y%m%d") + "    " + when.strftime("%H%M%S")


def parse_sip_date(text: str, local_tz: tzinfo) -> datetime | None:
    """An aware datetime from an 18-character SIP2 date, or None when `text` is not one
    (wrong shape, impossible date, unknown zone). Blank zone means `local_tz`."""
    m = _SIP_DATE.fullmatch(text)
    if m is None:
        return None
    zone = m.group(2).strip()
    tz = local_tz if not zone else _ZONES.get(zone)
    if tz is None:
        return None
    try:
        return datetime.strptime(m.group(1) + m.group(3), "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        return None


def parse_due(text: str | None, local_tz: tzinfo) -> datetime | None:
    """A due date (AH) as an aware datetime when it is in a form we know (18-char SIP2,
    `YYYY-MM-DD[ HH:MM[:SS]]`, `YYYYMMDD`), else None; a day without a time is the end of
    that day, which is when the reader's loan ends."""
    if not text:
        return None
    text = text.strip()
    parsed = parse_sip_date(text, local_tz)
    if parsed is not None:
        return parsed
    m = _ISO_DAY.fullmatch(text)
    if m is None and re.fullmatch(r"\d{8}", text):
        m = _ISO_DAY.fullmatch(f"{text[:4]}-{text[4:6]}-{text[6:]}")
    if m is None:
        return None
    y, mo, d, hh, mm, ss = m.groups()
    try:
        if hh is None:
            return datetime(int(y), int(mo), int(d), 23, 59, 59, tzinfo=local_tz)
        return datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0), tzinfo=local_tz)
    except ValueError:
        return None
