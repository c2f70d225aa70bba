"""`python -m hub ecard`: print a phone e-card token for a demo (issue 19 item 4).

    python -m hub ecard CARD_NUMBER --kiosk KIOSK     good for 60 s at that kiosk
    python -m hub ecard CARD_NUMBER --kiosk KIOSK --age 120   one that expired already

The real issuer is the library's app, which holds the same key (derived from the PIN
pepper, hub/ledger/ecard_tokens.py); this command is how a demo or a scenario gets a
token without one. It prints the token alone on stdout, as the QR code would carry it
(type or paste it into the simulator's scanner), and the card masked on stderr. The
card must be one the ledger knows: a token for anyone else would only be refused.

Exit codes as `python -m hub`: 0 printed, 1 no such card in the ledger, 2 a bad setting
or a number that is no card.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from contract import card_schemes
from contract.privacy import mask_card
from hub.cli.ledger_access import missing_ledger, open_ledger, say_no_ledger
from hub.config import ConfigError, HubConfig
from hub.ledger.ecard_tokens import MAX_LIFETIME_S, EcardTokens, ecard_key
from hub.worker.intake import KIOSK_ID_RE

COMMAND = "ecard"
EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `ecard` to `python -m hub`'s subparsers (`parents`: --config, --db)."""
    ecard = subs.add_parser(COMMAND, parents=parents, help="demo: print a phone e-card token for a card")
    ecard.add_argument("number", metavar="CARD_NUMBER", help="the reader's card number; its scheme from its shape")
    ecard.add_argument("--kiosk", required=True, metavar="KIOSK", help="the kiosk it will be shown at")
    ecard.add_argument(
        "--lifetime", type=int, default=MAX_LIFETIME_S, metavar="S", help=f"seconds it is good for (1-{MAX_LIFETIME_S})"
    )
    ecard.add_argument(
        "--age", type=int, default=0, metavar="S", help="issue it as if S seconds ago (an expired token, for demos)"
    )


def run(config: HubConfig, args: argparse.Namespace) -> int:
    """Print one token for `args.number` at `args.kiosk`, under the key of `config`'s ledger."""
    number = args.number.strip()
    scheme = card_schemes.identify_scheme(number)
    if scheme is None or not card_schemes.number_is_valid(scheme, number):
        raise ConfigError(f"ecard: {mask_card(number)} is not a valid card number of any scheme")
    if scheme == "staff":
        raise ConfigError("ecard: staff log in with their card and PIN, never with an e-card")
    if not KIOSK_ID_RE.match(args.kiosk):
        raise ConfigError(f"ecard: not a kiosk id: {args.kiosk!r}")
    if not 1 <= args.lifetime <= MAX_LIFETIME_S or args.age < 0:
        raise ConfigError(f"ecard: --lifetime is 1 to {MAX_LIFETIME_S} s and --age is not negative")
    missing = missing_ledger(config.db)
    if missing is not None:
        say_no_ledger(missing)
        return EXIT_FAILED
    with open_ledger(config) as ledger:
        if ledger.reader(scheme, number) is None:
            print(f"hub: no {scheme} card {mask_card(number)} in the ledger", file=sys.stderr)
            return EXIT_FAILED
        tokens = EcardTokens(ecard_key(ledger.pin_peppers().current))
    issued = datetime.now(UTC) - timedelta(seconds=args.age)
    token = tokens.issue(scheme, number, args.kiosk, issued, args.lifetime)
    print(f"{scheme} card {mask_card(number)} at kiosk {args.kiosk}, good for {args.lifetime} s", file=sys.stderr)
    print(token)
    return EXIT_OK
