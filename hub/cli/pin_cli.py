"""`python -m hub pin unlock`: staff lift a card's PIN lockout (hub/ledger/pins.py).

    python -m hub pin unlock SCHEME NUMBER     one card, e.g. bj-joint 0110000012341
    python -m hub pin unlock --card NUMBER     the same, its scheme known by its shape
    python -m hub pin unlock --kiosk KIOSK     every lock that kiosk's wrong PINs made

A lock ends by itself while the scheme's ladder has steps left (15 minutes, 1 hour,
24 hours); after the last only this command lifts it. Staff lift a lock once they have
seen the reader (or, with `--kiosk`, once they know the kiosk was guessing): the card's
count and ladder start again. Cards are printed masked (`contract.privacy.mask_card`).

Exit codes as `python -m hub`: 0 lifted (or the card was not locked), 1 no such card in
the ledger, 2 a bad setting or a number that is no card.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contract import card_schemes
from contract.privacy import mask_card
from hub.cli.ledger_access import missing_ledger, open_ledger, say_no_ledger
from hub.config import ConfigError, HubConfig
from hub.worker.intake import KIOSK_ID_RE

if TYPE_CHECKING:
    pass

COMMAND = "pin"
EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `pin unlock` to `python -m hub`'s subparsers (`parents`: --config, --db)."""
    pin = subs.add_parser(COMMAND, help="staff: lift a card's PIN lockout")
    actions = pin.add_subparsers(dest="pin_command", metavar="{unlock}", required=True)
    unlock = actions.add_parser(
        "unlock", parents=parents, help="lift a card's PIN lockout (or every lock a kiosk caused)"
    )
    unlock.add_argument("scheme", nargs="?", metavar="SCHEME", help="the card's scheme, e.g. bj-joint")
    unlock.add_argument("number", nargs="?", metavar="NUMBER", help="the card's number")
    unlock.add_argument("--card", metavar="NUMBER", help="the card's number; its scheme from its shape")
    unlock.add_argument("--kiosk", metavar="KIOSK", help="lift every lock this kiosk's wrong PINs made")


def run(config: HubConfig, args: argparse.Namespace) -> int:
    """Run `pin unlock` on the ledger of `config`."""
    missing = missing_ledger(config.db)
    if missing is not None:
        say_no_ledger(missing)
        return EXIT_FAILED
    if args.kiosk is not None:
        if args.scheme or args.number or args.card:
            raise ConfigError("pin unlock: give a card or --kiosk, not both")
        if not KIOSK_ID_RE.match(args.kiosk):
            raise ConfigError(f"pin unlock: not a kiosk id: {args.kiosk!r}")
        with open_ledger(config) as ledger:
            lifted = ledger.unlock_cards_locked_by(args.kiosk, datetime.now(UTC))
        print(f"lifted {lifted} lock(s) made by kiosk {args.kiosk}")
        return EXIT_OK
    scheme, number = _card(args)
    with open_ledger(config) as ledger:
        was_locked = ledger.unlock_card(scheme, number)
    if was_locked is None:
        print(f"hub: no {scheme} card {mask_card(number)} in the ledger", file=sys.stderr)
        return EXIT_FAILED
    if was_locked:
        print(f"{scheme} card {mask_card(number)}: unlocked; its PIN count starts again")
    else:
        print(f"{scheme} card {mask_card(number)}: was not locked; its PIN count starts again")
    return EXIT_OK


def _card(args: argparse.Namespace) -> tuple[str, str]:
    """The card the arguments name, checked like a kiosk's tap: ConfigError otherwise."""
    if args.card is not None:
        if args.scheme or args.number:
            raise ConfigError("pin unlock: give SCHEME NUMBER or --card NUMBER, not both")
        number = args.card.strip()
        scheme = card_schemes.identify_scheme(number)
        if scheme is None:
            raise ConfigError(f"pin unlock: {mask_card(number)} has the shape of no card scheme")
    elif args.scheme and args.number:
        scheme, number = args.scheme, args.number.strip()
    else:
        raise ConfigError("pin unlock: name the card (SCHEME NUMBER or --card NUMBER) or --kiosk KIOSK")
    if not card_schemes.number_is_valid(scheme, number):
        raise ConfigError(f"pin unlock: {mask_card(number)} is not a valid {scheme} card number")
    return scheme, number
