"""Profiles ([kiosk] profile): a book drop takes returns exactly as a kiosk does and
nothing else; a van takes the hub's offline limit, larger too; the offline banner's
pending count."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from contract.barcodes import make_item_barcode
from contract.screens import PinEntered, Press
from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    BooksPresented,
    CardPresented,
    TagRead,
)
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, Led, Log, RecordTxn, SendRequest
from firmware.core.events import BlocklistUpdated, JournalDepth, LinkChanged
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
XICHENG = make_item_barcode("0102", 9)
BOOKS = [make_item_barcode("0002", n) for n in range(1, 12)]
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})
WALL = datetime(2030, 1, 1, 9, tzinfo=UTC)


def harness(profile: str, **config: object) -> CoreHarness:
    k = CoreHarness(CoreConfig(profile=profile, institution_members=MEMBERS, **config))  # type: ignore[arg-type]
    k.feed(LinkChanged(True))
    k.wait(0.25, wall=WALL)
    return k


def tap(k: CoreHarness) -> tuple:
    return k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))


def ignored_with_a_buzz(effects: tuple) -> bool:
    logged = [e for e in effects if isinstance(e, Log) and e.event == "book_drop.borrowing_ignored"]
    return len(logged) == 1 and Beep("error") in effects


def test_a_card_tap_at_a_book_drop_asks_the_hub_nothing_and_buzzes() -> None:
    k = harness("book_drop")
    effects = tap(k)
    assert ignored_with_a_buzz(effects)
    assert not any(isinstance(e, SendRequest) for e in effects)
    assert k.state.reader is None
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.book_drop_returns_only"  # what a spoken prompt says


def test_every_borrowing_event_at_a_book_drop_is_ignored() -> None:
    k = harness("book_drop")
    pad = BooksPresented((TagRead(b"\x01" * 8, b"\x11" * 16),), source="desk")
    for event in (BarcodeRead(BOOKS[0]), pad, PinEntered("1234"), Press("borrow"), Press("return")):
        effects = k.feed(event)
        assert ignored_with_a_buzz(effects), event
        assert not any(isinstance(e, SendRequest | RecordTxn) for e in effects), event
    assert k.view.items == ()


def test_a_kiosk_still_takes_a_card_tap() -> None:
    k = harness("kiosk")
    effects = tap(k)
    assert any(isinstance(e, SendRequest) and e.request.op == "reader_lookup" for e in effects)


def return_book(k: CoreHarness) -> list[object]:
    seen: list[object] = []
    seen += k.feed(BookEntered(1.0), BarcodeRead(XICHENG, source="chute"))
    seen += k.answer(route="transfer", route_library="xicheng")
    seen += k.feed(BookPassed(at=2.0, transit_ms=300))
    return seen


def test_a_return_at_a_book_drop_is_the_kiosks_return() -> None:
    """The same requests, journal row, flap and lines, effect for effect."""
    at_drop, at_kiosk = harness("book_drop"), harness("kiosk")
    assert return_book(at_drop) == return_book(at_kiosk)
    assert at_drop.records("return") == [
        RecordTxn("return", XICHENG, None, None, "transfer", "online")
    ]
    assert [(i.barcode, i.status) for i in at_drop.view.items] == [(XICHENG, "returned")]


def test_a_return_at_a_book_drop_offline_is_routed_and_journalled() -> None:
    k = harness("book_drop")
    k.feed(LinkChanged(False))
    k.feed(
        BookEntered(1.0), BarcodeRead(XICHENG, source="chute"), BookPassed(at=2.0, transit_ms=300)
    )
    assert k.records("return") == [RecordTxn("return", XICHENG, None, None, "transfer", "offline")]


def test_a_book_drops_light_shows_the_link() -> None:
    k = harness("book_drop")
    assert Led("offline") in k.feed(LinkChanged(False))
    assert k.view.led == "offline"
    assert Led("idle") in k.feed(LinkChanged(True))
    assert k.view.led == "idle"


def offline_loans(profile: str, hub_limit: int, books: int) -> CoreHarness:
    k = harness(profile)
    k.feed(BlocklistUpdated(frozenset(), offline_max_items=hub_limit), LinkChanged(False))
    tap(k)
    for book in BOOKS[:books]:
        k.feed(BarcodeRead(book))
    return k


def test_a_van_lends_offline_up_to_the_hubs_larger_limit() -> None:
    k = offline_loans("van", hub_limit=10, books=11)
    statuses = [i.status for i in k.view.items]
    assert statuses == ["offline_loaned"] * 10 + ["refused"]
    assert k.view.items[-1].reason_code == "limit_reached_offline"
    assert len(k.records("loan")) == 10


def test_a_kiosk_keeps_its_own_limit_when_the_hub_sends_a_larger_one() -> None:
    k = offline_loans("kiosk", hub_limit=10, books=4)
    assert [i.status for i in k.view.items] == ["offline_loaned"] * 3 + ["refused"]


def test_a_van_without_the_hubs_figure_keeps_its_own_limit() -> None:
    k = harness("van")
    k.feed(LinkChanged(False))
    tap(k)
    assert k.view.items_left == 3


def test_the_offline_banner_counts_what_waits_to_be_sent() -> None:
    k = harness("van")
    k.feed(JournalDepth(4, 30.0))
    assert k.view.offline_pending is None  # online: no banner
    k.feed(LinkChanged(False), JournalDepth(7, 60.0))
    assert (k.view.online, k.view.offline_pending) == (False, 7)
    k.feed(LinkChanged(True))
    assert k.view.offline_pending is None
