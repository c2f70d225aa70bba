"""A stack of RFID-tagged books on the pad is lent as if each book had been scanned
(issue 18): one line and one CheckoutAuth per item, in inventory order, one at a time;
each tag unsecured only after its loan's RecordTxn; refused books never switched; sets
lent whole or not at all; a tag in the chute is a return's barcode, secured before the
flap routes it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from contract.barcodes import make_item_barcode
from contract.messages import CheckoutAuth
from contract.screens import PinEntered, Press
from contract.tag_data.codec import encode_tag
from contract.tag_data.record import DataModel, TagRecord
from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    BooksLifted,
    BooksPresented,
    CardPresented,
    TagRead,
)
from firmware.core.config import CoreConfig
from firmware.core.effects import (
    Effect,
    RecordTxn,
    SecureItem,
    SendRequest,
    SetDiverter,
    UnsecureItem,
)
from firmware.core.events import JournalFailed, LinkChanged, Tick
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
ISIL = "CN-110000-C"
BOOKS = tuple(make_item_barcode("0002", i) for i in range(1, 6))
XICHENG = make_item_barcode("0102", 9)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})
TAGGED = CoreConfig(kiosk_id="k1", library_id="capital", institution_members=MEMBERS,
                    security=True, tag_security=True)


def uid(n: int) -> bytes:
    """An ISO 15693 UID as it comes over the air: least significant byte first, E0 last."""
    return bytes([n, 0x20, 0x31, 0x42, 0x53, 0x01, 0x04, 0xE0])


def tag(n: int, item: str, part: int | None = None, size: int | None = None,
        model: DataModel = "iso28560-2") -> TagRead:
    record = TagRecord(item_id=item, owner_isil=ISIL, set_part=part, set_size=size)
    return TagRead(uid(n), encode_tag(model, record))


def stack(*tags: TagRead) -> BooksPresented:
    return BooksPresented(tags, source="desk")


FIVE = stack(*(tag(i, book) for i, book in enumerate(BOOKS, start=1)))


def greeted(config: CoreConfig = TAGGED, pin: bool = False) -> CoreHarness:
    k = CoreHarness(config)
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=pin,
             loans=[], items_left=10)
    return k


def checkouts(effects: tuple[Effect, ...] | list[Effect]) -> list[str]:
    return [e.request.item for e in effects
            if isinstance(e, SendRequest) and isinstance(e.request, CheckoutAuth)]


def unsecured(effects: tuple[Effect, ...] | list[Effect]) -> list[tuple[str, bytes | None]]:
    return [(e.item, e.tag) for e in effects if isinstance(e, UnsecureItem)]


def loan_then_unsecure(effects: tuple[Effect, ...]) -> list[tuple[str, str, bytes | None]]:
    """The loan's journal row and security switches of one answer, in effect order."""
    out: list[tuple[str, str, bytes | None]] = []
    for e in effects:
        if isinstance(e, RecordTxn):
            out.append(("record", e.item, None))
        elif isinstance(e, UnsecureItem):
            out.append(("unsecure", e.item, e.tag))
    return out


def test_a_five_book_stack_is_lent_book_by_book_in_inventory_order() -> None:
    k = greeted()
    first = k.feed(FIVE)
    assert checkouts(first) == [BOOKS[0]]  # one request in flight, the first tag's book
    assert [(i.barcode, i.status) for i in k.view.items] == [(b, "checking") for b in BOOKS]
    asked = checkouts(first)
    for n, book in enumerate(BOOKS, start=1):
        effects = k.answer(allowed=True, due=DUE, title=f"书{n}")
        assert loan_then_unsecure(effects) == [("record", book, None), ("unsecure", book, uid(n))]
        asked += checkouts(effects)
    assert asked == list(BOOKS)
    assert [r.item for r in k.records("loan")] == list(BOOKS)
    assert all(r.mode == "online" for r in k.records("loan"))
    assert [i.status for i in k.view.items] == ["loaned"] * 5


def test_a_stack_sends_the_same_checkout_a_scan_does() -> None:
    scanned, laid = greeted(), greeted()
    [by_scan] = [e.request for e in scanned.feed(BarcodeRead(BOOKS[0])) if isinstance(e, SendRequest)]
    [by_tag] = [e.request for e in laid.feed(stack(tag(1, BOOKS[0]))) if isinstance(e, SendRequest)]
    assert by_tag == by_scan
    assert scanned.answer(allowed=True, due=DUE)[0] == laid.answer(allowed=True, due=DUE)[0]


def test_a_refused_book_in_the_stack_stays_secured_and_the_reader_is_told_which() -> None:
    k = greeted()
    k.feed(FIVE)
    for n in range(1, 6):
        if n == 3:
            k.answer(allowed=False, reason_code="item_on_hold")
        else:
            k.answer(allowed=True, due=DUE)
    assert BOOKS[2] not in [item for item, _ in unsecured(k.effects)]
    assert uid(3) not in [t for _, t in unsecured(k.effects)]
    assert len(unsecured(k.effects)) == 4
    refused = [(i.barcode, i.reason_code) for i in k.view.items if i.status == "refused"]
    assert refused == [(BOOKS[2], "item_on_hold")]


def test_two_tags_carrying_one_item_make_one_loan_and_both_are_unsecured() -> None:
    k = greeted()
    effects = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[0])))
    assert checkouts(effects) == [BOOKS[0]]
    effects = k.answer(allowed=True, due=DUE)
    assert loan_then_unsecure(effects) == [
        ("record", BOOKS[0], None), ("unsecure", BOOKS[0], uid(1)), ("unsecure", BOOKS[0], uid(2)),
    ]
    assert len(k.view.items) == 1 and len(k.records("loan")) == 1


def test_a_set_with_a_part_missing_is_refused_with_the_sets_reason_and_nothing_asked() -> None:
    k = greeted()
    effects = k.feed(stack(tag(1, BOOKS[0], 1, 3), tag(2, BOOKS[0], 2, 3), tag(3, BOOKS[1])))
    assert checkouts(effects) == [BOOKS[1]]  # only the whole book is asked for
    [the_set, whole] = k.view.items
    assert (the_set.barcode, the_set.status, the_set.reason_code) == (BOOKS[0], "refused", "set_incomplete")
    assert the_set.message is not None and "2 of 3" in the_set.message.en and "3" in the_set.message.zh
    assert whole.status == "checking"
    k.answer(allowed=True, due=DUE)
    assert BOOKS[0] not in [item for item, _ in unsecured(k.effects)]
    assert BOOKS[0] not in checkouts(k.effects)


def test_a_complete_set_is_one_loan_with_every_parts_tag_unsecured() -> None:
    k = greeted()
    effects = k.feed(stack(tag(1, BOOKS[0], 1, 3), tag(2, BOOKS[0], 2, 3), tag(3, BOOKS[0], 3, 3)))
    assert checkouts(effects) == [BOOKS[0]]
    effects = k.answer(allowed=True, due=DUE)
    assert loan_then_unsecure(effects) == [("record", BOOKS[0], None)] + [
        ("unsecure", BOOKS[0], uid(n)) for n in (1, 2, 3)
    ]


def test_laying_down_the_missing_part_lends_the_set() -> None:
    k = greeted()
    two = (tag(1, BOOKS[0], 1, 3), tag(2, BOOKS[0], 2, 3))
    k.feed(stack(*two))
    effects = k.feed(stack(*two, tag(3, BOOKS[0], 3, 3)))
    assert checkouts(effects) == [BOOKS[0]]
    [line] = k.view.items
    assert (line.status, line.reason_code, line.message) == ("checking", None, None)
    assert [t for _, t in unsecured(k.answer(allowed=True, due=DUE))] == [uid(1), uid(2), uid(3)]


def test_an_unreadable_tag_is_told_in_plain_words_and_the_rest_is_lent() -> None:
    k = greeted()
    blank = TagRead(uid(8), b"")
    garbled = TagRead(uid(9), b"\xff" * 16)
    effects = k.feed(stack(tag(1, BOOKS[0]), blank, garbled))
    assert k.view.notice == "notice.tag_unreadable"
    assert checkouts(effects) == [BOOKS[0]]
    assert [i.barcode for i in k.view.items] == [BOOKS[0]]


def test_the_same_stack_presented_again_lends_nothing_twice_and_warns_of_nothing() -> None:
    k = greeted()
    k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    k.answer(allowed=True, due=DUE)
    again = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    assert k.view.notice is None
    assert not checkouts(again) and not unsecured(again)
    bigger = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1]), tag(3, BOOKS[2])))
    assert not checkouts(bigger)  # BOOKS[1] still in flight; BOOKS[2] waits its turn
    k.answer(allowed=True, due=DUE)
    k.answer(allowed=True, due=DUE)
    assert [r.item for r in k.records("loan")] == list(BOOKS[:3])
    assert len(k.view.items) == 3


def test_a_book_scanned_and_then_laid_on_the_pad_is_one_loan_with_its_tag_unsecured() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOKS[0]))
    assert unsecured(k.answer(allowed=True, due=DUE)) == [(BOOKS[0], None)]  # the EM unit
    later = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    assert unsecured(later) == [(BOOKS[0], uid(1))]  # its loan is journalled already
    assert checkouts(later) == [BOOKS[1]]
    assert k.view.notice is None and len(k.records("loan")) == 1


def test_barcode_books_keep_working_beside_tagged_ones() -> None:
    k = greeted()
    k.feed(stack(tag(1, BOOKS[0])))
    k.feed(BarcodeRead(BOOKS[1]))  # queued behind the tagged book
    first = k.answer(allowed=True, due=DUE)
    second = k.answer(allowed=True, due=DUE)
    assert unsecured(first) == [(BOOKS[0], uid(1))]
    assert unsecured(second) == [(BOOKS[1], None)]


def test_a_stack_before_the_card_is_told_to_tap_and_lent_once_the_reader_is_in() -> None:
    k = CoreHarness(TAGGED)
    effects = k.feed(stack(tag(1, BOOKS[0])))
    assert k.view.notice == "notice.tap_card_first" and not checkouts(effects)
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    effects = k.answer(state="valid", scheme="bj-joint", pin_required=False, loans=[], items_left=5)
    assert checkouts(effects) == [BOOKS[0]]


def test_a_stack_abandoned_at_the_attract_screen_is_not_lent_to_whoever_taps_next() -> None:
    """Books lying on the pad longer than `pad_wait_s` before the card are nobody's to
    borrow: the reader is asked to lay them down again, and nothing is sent."""
    k = CoreHarness(TAGGED)
    k.feed(Tick(now=1.0))
    k.feed(stack(tag(1, BOOKS[0])))
    k.feed(Tick(now=1.0 + TAGGED.pad_wait_s + 1))
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    effects = k.answer(state="valid", scheme="bj-joint", pin_required=False, loans=[], items_left=5)
    assert k.view.screen == "borrow" and not checkouts(effects) and not checkouts(k.effects)
    assert k.view.notice == "notice.pad_stack_stale"
    relaid = k.feed(stack(tag(1, BOOKS[0])))  # lifted and laid down again
    assert checkouts(relaid) == [BOOKS[0]]


def test_a_stack_before_the_pin_waits_for_the_pin() -> None:
    k = greeted(pin=True)
    effects = k.feed(stack(tag(1, BOOKS[0])))
    assert k.view.notice == "notice.enter_pin_first" and not checkouts(effects)
    k.feed(PinEntered("1234"))
    assert checkouts(k.answer(pin_ok=True, session_token="t" * 40)) == [BOOKS[0]]


def test_a_stack_left_on_the_pad_from_an_ended_session_is_not_lent_to_the_next_reader() -> None:
    k = greeted()
    k.feed(stack(tag(1, BOOKS[0])))
    k.answer(allowed=True, due=DUE)
    k.feed(Press("finish"))
    assert k.view.screen == "summary"
    k.feed(CardPresented(uid=b"\x09\x09\x09\x09", data=b"0110000012341"))  # someone else
    greeting = k.answer(state="valid", scheme="bj-joint", pin_required=False, loans=[], items_left=5)
    assert k.view.screen == "borrow" and not checkouts(greeting)
    assert checkouts(k.effects) == [BOOKS[0]]


def test_a_stack_laid_down_during_the_last_readers_summary_is_lent_to_the_next() -> None:
    k = greeted()
    k.feed(Press("finish"))
    k.feed(stack(tag(1, BOOKS[0])))
    assert k.view.notice == "notice.tap_card_first"
    k.feed(CardPresented(uid=b"\x09\x09\x09\x09", data=b"0110000012341"))
    greeting = k.answer(state="valid", scheme="bj-joint", pin_required=False, loans=[], items_left=5)
    assert checkouts(greeting) == [BOOKS[0]]


def test_lifting_the_stack_cancels_no_loan_in_flight() -> None:
    k = greeted()
    k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    k.feed(BooksLifted("desk"))
    k.answer(allowed=True, due=DUE)
    k.answer(allowed=True, due=DUE)
    assert [r.item for r in k.records("loan")] == [BOOKS[0], BOOKS[1]]
    assert unsecured(k.effects) == [(BOOKS[0], uid(1)), (BOOKS[1], uid(2))]


def test_an_offline_loan_of_a_tagged_book_unsecures_after_its_journal_row() -> None:
    k = greeted()
    k.feed(LinkChanged(False))
    effects = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    assert loan_then_unsecure(effects) == [
        ("record", BOOKS[0], None), ("unsecure", BOOKS[0], uid(1)),
        ("record", BOOKS[1], None), ("unsecure", BOOKS[1], uid(2)),
    ]
    assert all(r.mode == "offline" for r in k.records("loan"))


def test_the_iso28560_3_data_model_is_read_when_the_library_chose_it() -> None:
    config = CoreConfig(kiosk_id="k1", library_id="capital", tag_security=True, tag_data_model="iso28560-3")
    k = greeted(config)
    assert checkouts(k.feed(stack(tag(1, BOOKS[0], model="iso28560-3")))) == [BOOKS[0]]


def test_without_tag_security_a_tagged_book_gets_no_switch_and_a_barcode_book_the_em_unit() -> None:
    k = greeted(CoreConfig(kiosk_id="k1", library_id="capital", security=True))
    k.feed(stack(tag(1, BOOKS[0])))
    k.feed(BarcodeRead(BOOKS[1]))
    k.answer(allowed=True, due=DUE)
    k.answer(allowed=True, due=DUE)
    assert unsecured(k.effects) == [(BOOKS[1], None)]


def test_a_tag_read_in_the_chute_is_returned_and_secured_before_the_flap_moves() -> None:
    k = CoreHarness(TAGGED)
    k.feed(BookEntered(1.0), BooksPresented((tag(7, XICHENG),), source="chute"))
    k.answer(route="transfer", route_library="xicheng")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    order = [type(e) for e in effects]
    assert order.index(RecordTxn) < order.index(SecureItem) < order.index(SetDiverter)
    assert SecureItem(XICHENG, tag=uid(7)) in effects
    assert [r.item for r in k.records("return")] == [XICHENG]


def test_a_chute_tag_still_in_the_field_when_the_next_book_arrives_is_not_returned_twice() -> None:
    k = CoreHarness(TAGGED)
    first, second = tag(7, XICHENG), tag(8, BOOKS[0])
    k.feed(BookEntered(1.0), BooksPresented((first,), source="chute"))
    k.answer(route="transfer", route_library="xicheng")
    k.feed(BookPassed(at=2.0, transit_ms=300))
    k.feed(BookEntered(3.0), BooksPresented((first, second), source="chute"))
    k.answer(route="shelve")
    effects = k.feed(BookPassed(at=4.0, transit_ms=300))
    assert [r.item for r in k.records("return")] == [XICHENG, BOOKS[0]]
    assert SecureItem(BOOKS[0], tag=uid(8)) in effects


def test_a_broken_journal_lends_no_tagged_book_and_switches_no_tag() -> None:
    k = greeted()
    assert checkouts(k.feed(stack(tag(1, BOOKS[0])))) == [BOOKS[0]]
    k.feed(JournalFailed("journal-io", "EIO"))  # while the hub is being asked
    effects = k.answer(allowed=True, due=DUE)
    assert not [e for e in effects if isinstance(e, RecordTxn | UnsecureItem)]
    [line] = k.view.items
    assert (line.status, line.reason_code) == ("refused", "out_of_service")


def test_a_returns_only_card_gets_its_stack_refused_without_asking_the_hub() -> None:
    k = CoreHarness(TAGGED)
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", pin_required=False, loans=[], items_left=5,
             allowed=False, reason_code="scheme_not_accepted")
    effects = k.feed(stack(tag(1, BOOKS[0]), tag(2, BOOKS[1])))
    assert not checkouts(effects)
    assert [(i.barcode, i.reason_code) for i in k.view.items] == [
        (BOOKS[0], "scheme_not_accepted"), (BOOKS[1], "scheme_not_accepted"),
    ]
