"""Demo books in the order a newcomer should try them: the ones the loan rules lend the demo reader here come
first, refused ones after, a non-lending library's last (issue 19 item 6)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hub.ledger import catalogue
from hub.ledger.demo_loans import generated_items, loanable_first
from hub.rules import rules
from hub.rules.registry import Registry

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def holder(registry: Registry) -> rules.ReaderRecord:
    return next(
        r for r in catalogue.generate_readers(registry) if r.number == catalogue.HOLDER_NUMBER
    ).record()


def test_loanable_books_come_first_then_refused_ones_then_the_national_librarys(
    registry: Registry,
) -> None:
    nlc_book, in_transit, on_shelf = (
        catalogue.item_barcode(registry, "nlc", 1),
        catalogue.item_barcode(registry, "capital", 1),
        catalogue.item_barcode(registry, "xicheng", 1),
    )
    generated = generated_items(registry, ("nlc", "capital", "xicheng"))

    def item_of(barcode: str) -> rules.ItemRecord | None:
        item = generated(barcode)
        return (
            dataclasses.replace(item, state="in_transit")
            if barcode == in_transit and item
            else item
        )

    order = loanable_first(
        registry, holder(registry), "capital", [nlc_book, in_transit, on_shelf], item_of, NOW
    )
    assert order == [on_shelf, in_transit, nlc_book]
