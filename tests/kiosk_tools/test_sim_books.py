"""The simulator panel's scan buttons offer first the books the demo reader may borrow
at this kiosk (by the loan rules), the National Library's last (issue 19 item 6)."""

from __future__ import annotations

import types
from datetime import UTC, datetime

from hub.ledger import catalogue
from hub.ledger.demo_loans import DEMO_LIBRARIES, generated_items
from hub.rules import rules
from hub.rules.registry import load_registry
from kiosk_tools.sim_controls import KioskSimControls

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_the_panels_first_scan_button_is_a_book_the_demo_reader_may_borrow_here() -> None:
    registry = load_registry()
    kiosk = types.SimpleNamespace(
        runtime=types.SimpleNamespace(core_config=types.SimpleNamespace(library_id="capital"))
    )
    books = KioskSimControls(kiosk, None).demo_books()  # type: ignore[arg-type]  # the runtime's library is all it reads
    item_of = generated_items(registry, DEMO_LIBRARIES)
    first = item_of(books[0][1])
    assert first is not None and first.home_library == "capital" and books[0][0] == "首都图书馆 #1"
    assert rules.checkout_decision(
        registry,
        next(
            r for r in catalogue.generate_readers(registry) if r.number == catalogue.HOLDER_NUMBER
        ).record(),
        first,
        "capital",
        0,
        NOW,
    ).allowed
    homes = [item_of(barcode).home_library for _label, barcode in books]  # type: ignore[union-attr]
    assert homes[-2:] == ["nlc", "nlc"] and "nlc" not in homes[:-2]
