"""`hub demo` opens with what a demo card can really borrow where: the loan rules decide,
on the generator's states or the ledger's (issue 19 item 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hub.cli import demo_offers
from hub.ledger import catalogue, demo_loans
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def joint(registry: Registry) -> catalogue.DemoReader:
    return demo_offers.pick_card(catalogue.generate_readers(registry), None)


def test_every_offered_book_is_one_the_rules_lend_there_and_the_national_library_says_why(
    registry: Registry,
) -> None:
    card = joint(registry)
    assert (card.number, card.pin) == (catalogue.HOLDER_NUMBER, "123456")
    offers = demo_offers.card_offers(registry, card, None, NOW)
    by_id = {o.library_id: o for o in offers}
    assert list(by_id) == list(demo_loans.DEMO_LIBRARIES)
    for offer in offers:
        for book in offer.books:
            assert book.home_library == offer.library_id
            assert rules.checkout_decision(
                registry, card.record(), book, offer.library_id, 0, NOW
            ).allowed
    assert by_id["capital"].books[0].barcode == "30002000000018"
    nlc = by_id["nlc"]
    assert nlc.books == () and nlc.refused is not None
    assert nlc.refused.reason_code == "service_suspended"
    assert "renovated" in nlc.refused.message_en and "维修" in nlc.refused.message_zh


def test_an_nlc_card_is_offered_the_capital_library_only(registry: Registry) -> None:
    nlc_card = next(r for r in catalogue.generate_readers(registry) if r.scheme == "nlc")
    offers = demo_offers.card_offers(registry, nlc_card, None, NOW)
    lending = [o.library_id for o in offers if o.books]
    assert lending == ["capital"]
    assert {o.refused.reason_code for o in offers if o.refused} == {
        "scheme_not_accepted",
        "service_suspended",
    }


def test_a_book_not_on_the_shelf_is_not_offered(registry: Registry, tmp_path: Path) -> None:
    """With a ledger, its states count: a book on loan or in transit is skipped."""
    with Ledger.open(f"sqlite:///{tmp_path}/hub.sqlite") as ledger:
        ledger.seed_demo(registry, per_member=25)
        first, second = (catalogue.item_barcode(registry, "capital", n) for n in (1, 2))
        with ledger.db.write() as db:
            db.execute("UPDATE items SET state = 'on_loan' WHERE barcode = ?", (first,))
            db.execute("UPDATE items SET state = 'in_transit' WHERE barcode = ?", (second,))
        offers = demo_offers.card_offers(registry, joint(registry), ledger, NOW)
    capital = [b.barcode for b in offers[0].books]
    assert first not in capital and second not in capital
    assert capital[0] == catalogue.item_barcode(registry, "capital", 3)


def test_the_cli_leads_with_the_offers_and_keeps_its_tables(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/none.sqlite"
    run = [sys.executable, "-m", "hub", "demo", "--db", db]
    text = subprocess.run(
        run, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    lines = text.splitlines()
    assert lines[0].startswith("Books card 0110000012341 (bj-joint 王小明, PIN 123456) can borrow")
    assert lines[1].strip() == "首都图书馆 / Capital Library of China (capital):"
    assert lines[2].split()[0] == "30002000000018"
    assert "Lending is suspended" in text
    assert text.index("can borrow") < text.index("Demo readers") < text.index("Demo items")
    data = json.loads(
        subprocess.run(
            [*run, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    libraries = {lib["library"]: lib for lib in data["borrowable"]["libraries"]}
    assert libraries["capital"]["books"][0]["barcode"] == "30002000000018"
    assert libraries["nlc"]["refused"]["reason_code"] == "service_suspended"
    assert data["readers"] and data["items"]


def test_the_opening_says_why_the_national_librarys_books_are_lent_nowhere(registry: Registry) -> None:
    card = joint(registry)
    text = demo_offers.offers_text(card, demo_offers.card_offers(registry, card, None, NOW))
    nlc = text[text.index("国家图书馆 / National Library of China"):]
    assert "维修" in nlc and "renovated" in nlc
    assert "Its books are not lent at any other library either." in nlc
    assert "Its books are not lent" not in text[: text.index("国家图书馆 / National")]
