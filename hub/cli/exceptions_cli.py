"""`python -m hub exceptions`: the staff exceptions, and closing one with a record.

    python -m hub exceptions [--kiosk K] [--since T] [--open] [--json]
    python -m hub exceptions resolve ID --note "..." [--by NAME]

The list shows each exception with its reason in words (hub/ledger/exception_reasons.py), the
book (barcode and title), the reader (masked name and card scheme, never the number), the
kiosk, the time (the alliance's local time, UTC+8) and its state (`open`, or `resolved`
with who, when and the note). `--since` takes a date or time (`2026-12-07`,
`2026-12-07T09:30`, alliance local time unless it names its offset) or an age (`30m`,
`12h`, `7d`). `resolve` records who closed it (`--by`, else `$USER`), when, and the note;
an exception is resolved once.

Exit codes: 0 done, 1 no ledger yet or an exception that cannot be resolved (unknown,
already resolved), 2 a bad setting or argument.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from hub.cli.ledger_access import missing_ledger, open_ledger, say_no_ledger
from hub.config import ConfigError, HubConfig
from hub.ledger.exception_reasons import SUMMARY_SHOWN

COMMAND = "exceptions"
_AGE = re.compile(r"^(\d{1,6})\s*([mhd])$")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subs.add_parser(
        COMMAND, parents=parents, help="staff exceptions: list them (reason, book, reader, kiosk), resolve one"
    )
    p.add_argument("--kiosk", metavar="K", help="only this kiosk's")
    p.add_argument("--since", metavar="T", help="only those since T: 2026-12-07, 2026-12-07T09:30, 12h, 7d")
    p.add_argument("--open", action="store_true", help="only open ones")
    actions = p.add_subparsers(dest="exceptions_action", metavar="{resolve}")
    r = actions.add_parser("resolve", help="close an exception with a note")
    # SUPPRESS: a value given before `resolve` is kept, not reset by this parser's default.
    r.add_argument("--config", metavar="F", default=argparse.SUPPRESS)
    r.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
    r.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    r.add_argument("exception_id", metavar="ID", type=int, help="the exception's number (first column)")
    r.add_argument("--note", required=True, metavar="TEXT", help="what staff found or did")
    r.add_argument("--by", metavar="NAME", help="who resolves it (default: $USER)")


def parse_since(text: str, now: datetime, zone: tzinfo) -> datetime:
    """`--since`: an age (`30m`, `12h`, `7d`) before `now`, or an ISO date or time (in
    `zone` unless it names its offset). ConfigError in words otherwise."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        return now - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: not a time; use a date (2026-12-07), a time (2026-12-07T09:30) or an age (12h, 7d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def run(config: HubConfig, args: argparse.Namespace) -> int:
    missing = missing_ledger(config.db)
    if missing is not None:
        say_no_ledger(missing)
        return 1
    now = datetime.now(UTC)
    ledger = open_ledger(config)
    try:
        if getattr(args, "exceptions_action", None) == "resolve":
            return _resolve(ledger, args, now, config.timezone)
        since = parse_since(args.since, now, config.timezone) if args.since else None
        rows = ledger.staff_exceptions(kiosk_id=args.kiosk, since=since, only_open=args.open)
    finally:
        ledger.close()
    if getattr(args, "json", False):
        print(json.dumps({"exceptions": [r.as_json() for r in rows]}, ensure_ascii=False, indent=2))
    else:
        print(exceptions_text(rows, config.timezone))
    return 0


def _resolve(ledger: Any, args: argparse.Namespace, now: datetime, zone: tzinfo) -> int:
    from hub.ledger.staff_exceptions import ResolveError

    # The note is the record other staff read in a terminal: no control characters.
    note = " ".join(_CONTROL.sub(" ", args.note).split())
    if not note:
        raise ConfigError("--note: say what staff found or did (it is the record)")
    by = (args.by or os.environ.get("USER") or getpass.getuser() or "").strip()
    if not _NAME.match(by):
        raise ConfigError(f"--by {by!r}: a name of 1-64 printable characters")
    try:
        done = ledger.resolve_exception(args.exception_id, by, note[:500], now)
    except ResolveError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(done.as_json(), ensure_ascii=False, indent=2))
    else:
        print(f"exception {done.id} resolved by {done.resolved_by} at {_local(done.resolved_at, zone)}: {note}")
    return 0


def exceptions_text(rows: Sequence[Any], zone: tzinfo) -> str:
    """Each exception as a short block a member of staff reads, then a count."""
    if not rows:
        return "no staff exceptions"
    blocks = []
    for r in rows:
        what = " ".join(filter(None, [r.mode, r.kind])) or "call"
        head = f"#{r.id}  {r.state.upper()}  {_local(r.at, zone)}  kiosk {r.kiosk_id}"
        if r.library_id:
            head += f" at {r.library_id}"
        lines = [head, f"    {what}: {r.reason_text} [{r.reason}]"]
        book = "-" if not r.item else f"{r.item}" + (f" 《{r.title}》" if r.title else " (not in the catalogue)")
        reader = "-" if r.reader is None and r.scheme is None else f"{r.reader or '?'} ({r.scheme or '?'} card)"
        lines.append(f"    book {book} · reader {reader}")
        if r.kind is None or r.reason in SUMMARY_SHOWN:  # a system's own words, a route correction's routes
            lines.append(f"    {_clean(r.summary)}")
        if r.resolved_at is not None:
            lines.append(f"    resolved {_local(r.resolved_at, zone)} by {_clean(r.resolved_by)}: {_clean(r.resolved_note)}")
        blocks.append("\n".join(lines))
    open_count = sum(1 for r in rows if r.resolved_at is None)
    blocks.append(f"{len(rows)} exception(s), {open_count} open"
                  + (" (python -m hub exceptions resolve ID --note '...')" if open_count else ""))  # fmt: skip
    return "\n\n".join(blocks)


def _clean(text: str | None) -> str:
    """Text from elsewhere (a member's system, an older note) without control characters."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def _local(moment: datetime | None, zone: tzinfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %z")
