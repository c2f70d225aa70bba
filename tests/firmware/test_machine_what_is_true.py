"""The kiosk tells a reader what is true: a card that may only return here is told so
at the greeting; offline the alliance's scheme rules decide who may borrow, and an
offline session shows no loan count it cannot know (issue 20, Deliver 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract.barcodes import make_item_barcode
from contract.card_schemes import make_card_number
from contract.members import lending_schemes
from contract.messages import Bilingual, LoanLine
from contract.screens import PinEntered
from drivers.events import BarcodeRead, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.effects import RecordTxn, SendRequest
from firmware.core.events import LinkChanged
from firmware.core.recognition import lending_refusal
from kiosk_tools.core_harness import CoreHarness

JOINT = make_card_number("bj-joint", 1234)
NLC = make_card_number("nlc", 77)
UNIV = make_card_number("univ-public", 5)
BOOK = make_item_barcode("0002", 1)
WALL = datetime(2030, 1, 1, 9, tzinfo=UTC)
NOT_HERE = Bilingual(zh="本馆不能用这种读者卡借书，但可以还书。",
                     en="This library cannot lend on this kind of card, but you can return books here.")


def tap(k: CoreHarness, number: str) -> None:
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=number.encode()))


def checkout_requests(k: CoreHarness) -> list[SendRequest]:
    return [e for e in k.effects if isinstance(e, SendRequest) and e.request.op == "checkout_auth"]


def offline_tap(library: str, number: str) -> CoreHarness:
    k = CoreHarness(CoreConfig(library_id=library))
    k.wait(0.25, wall=WALL)
    k.feed(LinkChanged(False))
    tap(k, number)
    return k


# ---- online: the hub says this card may only return here ----


def test_a_university_card_at_the_capital_library_is_greeted_as_returns_only() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True))
    tap(k, UNIV)
    k.answer(scheme="univ-public", state="valid", masked_name="赵*", pin_required=False,
             loans=[], items_left=3, allowed=False, reason_code="scheme_not_accepted",
             message=NOT_HERE)
    view = k.view
    assert view.screen == "borrow"
    assert view.may_borrow is False
    assert view.items_left is None  # no quota shown to a card that cannot borrow here
    assert view.borrow_message is not None and view.borrow_message.zh == NOT_HERE.zh
    k.feed(BarcodeRead(BOOK, "desk"))
    [line] = k.view.items
    assert (line.status, line.reason_code) == ("refused", "scheme_not_accepted")
    assert checkout_requests(k) == []  # refused at once: the hub said so at the greeting


def test_the_pins_answer_can_say_returns_only_too() -> None:
    """A hub that tells loans and standing only with the right PIN."""
    k = CoreHarness(CoreConfig(library_id="dongcheng"))
    k.feed(LinkChanged(True))
    tap(k, NLC)
    k.answer(scheme="nlc", state="valid", pin_required=True)
    assert k.view.screen == "pin"
    k.feed(PinEntered("1234"))
    k.answer(pin_ok=True, attempts_left=5, loans=[], items_left=3, allowed=False,
             reason_code="scheme_not_accepted", message=NOT_HERE)
    assert (k.view.screen, k.view.may_borrow, k.view.items_left) == ("borrow", False, None)
    assert k.view.reader_loans == 0


def test_loans_are_not_counted_before_an_answer_carried_them() -> None:
    """A lookup before the PIN may carry no loans; a right PIN without loans leaves the
    count unknown, never 0."""
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True))
    tap(k, JOINT)
    k.answer(scheme="bj-joint", state="valid", pin_required=True)
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True, attempts_left=5)
    assert k.view.screen == "borrow"
    assert k.view.reader_loans is None
    assert k.view.may_borrow is True


def test_a_right_pin_brings_the_loans_and_the_name() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.feed(LinkChanged(True))
    tap(k, JOINT)
    k.answer(scheme="bj-joint", state="valid", pin_required=True)
    k.feed(PinEntered("123456"))
    due = datetime(2030, 2, 1, tzinfo=UTC)
    k.answer(pin_ok=True, attempts_left=5, masked_name="王*明", items_left=3,
             loans=[LoanLine(item=make_item_barcode("0002", 9), title="活着", due=due)] * 2)
    assert (k.view.reader_name, k.view.reader_loans, k.view.items_left) == ("王*明", 2, 3)


# ---- offline: the alliance's scheme rules ----


@pytest.mark.parametrize(("library", "number", "reason"), [
    ("capital", UNIV, "scheme_not_accepted"),
    ("dongcheng", NLC, "scheme_not_accepted"),
    ("nlc", JOINT, "service_suspended"),
])
def test_offline_a_card_the_hub_would_refuse_is_lent_nothing(library: str, number: str, reason: str) -> None:
    k = offline_tap(library, number)
    view = k.view
    assert view.screen == "borrow"
    assert view.session_offline is True
    assert view.may_borrow is False
    assert view.items_left is None and view.reader_loans is None
    assert view.notice == "notice.offline_returns_only"
    for n in range(1, 4):
        k.feed(BarcodeRead(make_item_barcode("0002", n), "desk"))
    assert [(i.status, i.reason_code) for i in k.view.items] == [("refused", reason)] * 3
    assert k.records("loan") == []


@pytest.mark.parametrize(("library", "number"), [("capital", NLC), ("capital", JOINT), ("dongcheng", JOINT)])
def test_offline_a_card_the_alliance_lends_to_here_borrows_up_to_the_offline_limit(
    library: str, number: str
) -> None:
    k = offline_tap(library, number)
    assert k.view.may_borrow is True
    assert k.view.notice == "notice.offline_reader"
    k.feed(BarcodeRead(BOOK, "desk"))
    [record] = [e for e in k.effects if isinstance(e, RecordTxn)]
    assert (record.kind, record.mode) == ("loan", "offline")


def test_an_offline_session_says_it_is_offline_and_shows_no_made_up_loan_count() -> None:
    k = offline_tap("capital", JOINT)
    view = k.view
    assert view.session_offline is True and view.online is False
    assert view.reader_loans is None  # the kiosk cannot know the reader's loans offline
    assert view.items_left == CoreConfig().offline_max_items
    k.feed(BarcodeRead(BOOK, "desk"))
    assert k.view.reader_loans is None
    assert k.view.items_left == CoreConfig().offline_max_items - 1


def test_a_reader_greeted_online_whose_checkout_times_out_is_held_to_the_scheme_rules() -> None:
    """Even if the greeting let the card in, an offline loan follows the member data."""
    config = CoreConfig(library_id="capital", lending_schemes={"capital": frozenset({"bj-joint"})})
    k = CoreHarness(config)
    k.wait(0.25, wall=WALL)
    k.feed(LinkChanged(True))
    tap(k, NLC)
    k.answer(scheme="nlc", state="valid", pin_required=False, loans=[], items_left=3)
    k.feed(BarcodeRead(BOOK, "desk"))
    k.time_out()
    [line] = k.view.items
    assert (line.status, line.reason_code) == ("refused", "scheme_not_accepted")
    assert k.records("loan") == []


def test_the_kiosks_rules_are_the_member_data_the_hub_loads() -> None:
    from hub.rules.registry import load_registry

    registry = load_registry()
    config_of = {member: CoreConfig(library_id=member) for member in lending_schemes()}
    for member, config in config_of.items():
        for scheme in ("nlc", "bj-joint", "univ-public"):
            hub_lends = registry.accepts(member, "borrow", scheme)
            assert (lending_refusal(config, scheme) is None) == hub_lends, (member, scheme)


def test_a_library_missing_from_the_member_data_leaves_the_decision_to_the_hub() -> None:
    assert lending_refusal(CoreConfig(library_id="no-such-library"), "univ-public") is None


def test_offline_a_national_library_book_is_not_lent_at_the_capital_library() -> None:
    """The hub refuses a book whose own library lends nothing (`home_lending_suspended`);
    offline the kiosk refuses it too, by the institution code in its barcode, and lends
    the next book of a member that lends."""
    from contract.members import institution_members

    k = CoreHarness(CoreConfig(library_id="capital", institution_members=institution_members()))
    k.wait(0.25, wall=WALL)
    k.feed(LinkChanged(False))
    tap(k, JOINT)
    k.feed(BarcodeRead(make_item_barcode("0001", 3), "desk"))
    k.feed(BarcodeRead(BOOK, "desk"))
    assert [(i.status, i.reason_code) for i in k.view.items] == [
        ("refused", "home_lending_suspended"),
        ("offline_loaned", None),
    ]
    assert [r.item for r in k.records("loan")] == [BOOK]
