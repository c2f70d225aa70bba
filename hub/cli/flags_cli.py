"""`python -m hub flags`: staff see and lower the flags the hub raised on kiosks
(hub/ledger/kiosk_flags.py).

    python -m hub flags [--kiosk K] [--json]      every flag up: kiosk, flag, count, since, detail
    python -m hub flags clear KIOSK [--flag F]    lower one flag of a kiosk, or all of them

A flag says what the hub no longer takes a kiosk's word for; `hub status` shows its name
beside the kiosk. Lowering it changes nothing the hub decided (exceptions stay for
`hub exceptions`); a kiosk that goes on raises it again.

Exit codes as `python -m hub`: 0 done, 1 no ledger or nothing to lower, 2 a bad setting.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from hub.cli.ledger_access import missing_ledger, open_ledger, say_no_ledger
from hub.config import ConfigError, HubConfig
from hub.worker.intake import KIOSK_ID_RE

if TYPE_CHECKING:
    pass

COMMAND = "flags"
EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `flags` and `flags clear` to `python -m hub`'s subparsers (`parents`: --config,
    --db, --json)."""
    flags = subs.add_parser(COMMAND, parents=parents, help="staff: the flags the hub raised on kiosks")
    flags.add_argument("--kiosk", metavar="K", help="only this kiosk's flags")
    actions = flags.add_subparsers(dest="flags_command", metavar="{clear}")
    clear = actions.add_parser("clear", parents=parents, help="lower a kiosk's flag (or all of them)")
    clear.add_argument("kiosk_id", metavar="KIOSK")
    clear.add_argument("--flag", metavar="F", help="only this flag, e.g. clock_off")


def run(config: HubConfig, args: argparse.Namespace) -> int:
    """Run `flags` or `flags clear` on the ledger of `config`."""
    missing = missing_ledger(config.db)
    if missing is not None:
        say_no_ledger(missing)
        return EXIT_FAILED
    kiosk = args.kiosk_id if args.flags_command == "clear" else args.kiosk
    if kiosk is not None and not KIOSK_ID_RE.match(kiosk):
        raise ConfigError(f"flags: not a kiosk id: {kiosk!r}")
    with open_ledger(config) as ledger:
        if args.flags_command == "clear":
            lowered = ledger.clear_kiosk_flag(kiosk, args.flag)
            what = f"flag {args.flag}" if args.flag else "every flag"
            print(f"kiosk {kiosk}: lowered {what} ({lowered} up)")
            return EXIT_OK if lowered else EXIT_FAILED
        raised = ledger.kiosk_flags(kiosk)
    if args.json:
        print(json.dumps([{"kiosk_id": f.kiosk_id, **f.as_json()} for f in raised], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not raised:
        print("no kiosk is flagged")
        return EXIT_OK
    for f in raised:
        since = f.raised_at.strftime("%Y-%m-%d %H:%M")
        print(f"{f.kiosk_id}  {f.flag}  ×{f.count}  since {since} UTC  {f.detail}")
    return EXIT_OK
