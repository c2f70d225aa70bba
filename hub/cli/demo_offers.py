"""`python -m hub demo`'s opening: the books a demo card can borrow at each of the main
demo libraries, and why a library lends it nothing (hub/ledger/demo_loans.py decides,
with the loan rules). A newcomer picks the first book listed and it is lent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contract.privacy import card_hash
from hub.cli.table import aligned
from hub.ledger import demo_loans
from hub.ledger.catalogue import HOLDER_NUMBER, DemoReader

if TYPE_CHECKING:
    from hub.ledger.ledger import Ledger
    from hub.rules.registry import Registry


class UnknownDemoCard(LookupError):
    """`--card` names no demo reader."""


def pick_card(readers: Sequence[DemoReader], number: str | None) -> DemoReader:
    """The demo card `number`, or by default the joint card of 王小明 that README's
    walk-through taps (the holder of the demo holds)."""
    number = number or HOLDER_NUMBER
    for reader in readers:
        if reader.number == number:
            return reader
    raise UnknownDemoCard(f"--card {number}: not a demo card (python -m hub demo lists them)")


def card_offers(
    registry: Registry, card: DemoReader, ledger: Ledger | None, now: datetime
) -> list[demo_loans.LibraryOffer]:
    """What `card` may borrow at each demo library now: states and loans from `ledger`
    when there is one (a lent book is not offered again), else from the generator."""
    if ledger is None:
        item_of = demo_loans.generated_items(registry, demo_loans.DEMO_LIBRARIES)
        return demo_loans.offers(registry, card.record(), item_of, now)
    reader = ledger.reader(card.scheme, card.number) or card.record()
    loans = len(ledger.active_loans(card_hash(card.scheme, card.number)))
    return demo_loans.offers(registry, reader, ledger.item, now, active_loans=loans)


def offers_json(card: DemoReader, offers: Sequence[demo_loans.LibraryOffer]) -> dict[str, Any]:
    """The `borrowable` part of `hub demo --json`."""
    return {
        "card": {"scheme": card.scheme, "number": card.number, "pin": card.pin, "name": card.name},
        "libraries": [
            {
                "library": o.library_id,
                "name_zh": o.name_zh,
                "name_en": o.name_en,
                "books": [{"barcode": b.barcode, "title": b.title} for b in o.books],
                "refused": None
                if o.refused is None
                else {
                    "reason_code": o.refused.reason_code,
                    "message_zh": o.refused.message_zh,
                    "message_en": o.refused.message_en,
                },
            }
            for o in offers
        ],
    }


def offers_text(card: DemoReader, offers: Sequence[demo_loans.LibraryOffer]) -> str:
    """The offers as the opening lines of `hub demo`: per library, its books (barcode,
    title), or why it lends this card nothing, in both languages."""
    pin = f", PIN {card.pin}" if card.pin else ""
    lines = [
        f"Books card {card.number} ({card.scheme} {card.name}{pin}) can borrow now (the loan rules):"
    ]
    for offer in offers:
        lines.append(f"  {offer.name_zh} / {offer.name_en} ({offer.library_id}):")
        if offer.refused is not None:
            lines.append(f"    none: {offer.refused.message_zh}")
            lines.append(f"          {offer.refused.message_en}")
            if offer.refused.reason_code == "service_suspended":  # rules: home_lending_suspended
                lines.append("          该馆的书在其他图书馆也不能借出。")
                lines.append("          Its books are not lent at any other library either.")
        elif not offer.books:
            lines.append("    none on the shelf just now")
        else:
            table = aligned([["   ", b.barcode, b.title] for b in offer.books])
            lines.extend(table.splitlines())
    return "\n".join(lines)
