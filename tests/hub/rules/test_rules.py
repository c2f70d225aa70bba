"""Loan rules: who may borrow what where, renewals, where returns go, and privacy masks."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.card_schemes import make_card_number, make_item_barcode
from contract.privacy import card_hash, mask_card, mask_name
from hub.rules.registry import Registry, RegistryError, load_registry
from hub.rules.rules import (
    REASONS,
    SHANGHAI,
    Decision,
    ItemRecord,
    ReaderRecord,
    Route,
    checkout_decision,
    reader_status,
    renew_decision,
    route_return,
)

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 10, 30, tzinfo=SHANGHAI)
LATER = date(2030, 1, 1)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def joint(**changes: object) -> ReaderRecord:
    base = ReaderRecord(
        "bj-joint", make_card_number("bj-joint", 1234), "王小明", "valid", None, LATER, "capital"
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def nlc_card(**changes: object) -> ReaderRecord:
    base = ReaderRecord("nlc", make_card_number("nlc", 1), "李雷", "valid", None, LATER, "nlc")
    return replace(base, **changes)  # type: ignore[arg-type]


def book(
    code: str = "0102", serial: int = 1, home: str = "xicheng", **changes: object
) -> ItemRecord:
    base = ItemRecord(make_item_barcode(code, serial), "活着 / 余华 著", home, "on_shelf")
    return replace(base, **changes)  # type: ignore[arg-type]


def assert_refused(decision: Decision, code: str) -> None:
    assert not decision.allowed
    assert decision.reason_code == code
    assert decision.message_zh and decision.message_en
    assert decision.due is None


def test_every_reason_has_both_languages_in_plain_words() -> None:
    required = {
        "card_expired", "card_unknown", "card_blocked_lost", "card_blocked_overdue",
        "card_blocked_fees", "scheme_not_accepted", "service_suspended", "item_unknown",
        "item_not_loanable", "item_on_loan", "item_on_hold", "limit_reached", "renew_limit",
        "renew_on_hold", "pin_locked", "pin_wrong",
    }  # fmt: skip
    assert required <= set(REASONS)
    for code, (zh, en) in REASONS.items():
        assert zh.strip() and en.strip(), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
        assert en.isascii() and en.endswith("."), code
    assert REASONS["card_expired"] == (
        "您的读者卡已过期，请到服务台续期。",
        "Your card has expired. Please renew it at the service desk.",
    )


# ---- reader status


def test_a_valid_joint_card_may_borrow_at_capital_and_district_libraries(
    registry: Registry,
) -> None:
    for library in ("capital", "dongcheng", "xicheng-jinrongjie", "daxing-yizhuang"):
        assert reader_status(registry, joint(), library, TODAY) == Decision(True)


def test_an_nlc_card_may_borrow_at_capital_but_only_return_at_a_district_library(
    registry: Registry,
) -> None:
    assert reader_status(registry, nlc_card(), "capital", TODAY).allowed
    refused = reader_status(registry, nlc_card(), "dongcheng", TODAY)
    assert_refused(refused, "scheme_not_accepted")
    assert "还书" in refused.message_zh and "return" in refused.message_en
    assert registry.accepts("dongcheng", "return", "nlc")


def test_at_nlc_lending_is_suspended_for_every_card_with_the_reason(registry: Registry) -> None:
    for reader in (nlc_card(), joint()):
        d = reader_status(registry, reader, "nlc", TODAY)
        assert_refused(d, "service_suspended")
        assert "维修" in d.message_zh and "renovated" in d.message_en


@pytest.mark.parametrize(
    ("reader", "code"),
    [
        (None, "card_unknown"),
        (joint(scheme="mystery"), "card_unknown"),
        (joint(state="expired"), "card_expired"),
        (joint(expires=TODAY - timedelta(days=1)), "card_expired"),
        (joint(state="blocked", block_reason="lost"), "card_blocked_lost"),
        (joint(state="blocked", block_reason="overdue"), "card_blocked_overdue"),
        (joint(state="blocked", block_reason="fees"), "card_blocked_fees"),
        (joint(state="blocked", block_reason=None), "card_blocked"),
        (joint(scheme="staff", number=make_card_number("staff", 1)), "staff_card"),
    ],
)
def test_cards_that_cannot_be_used_say_why(
    registry: Registry, reader: ReaderRecord | None, code: str
) -> None:
    assert_refused(reader_status(registry, reader, "capital", TODAY), code)


def test_a_card_expiring_today_still_works_today(registry: Registry) -> None:
    assert reader_status(registry, joint(expires=TODAY), "capital", TODAY).allowed


def test_an_unknown_kiosk_library_is_a_configuration_error(registry: Registry) -> None:
    with pytest.raises(RegistryError):
        reader_status(registry, joint(), "atlantis", TODAY)


# ---- checkout


def test_a_loan_is_due_at_the_end_of_the_42nd_day_beijing_time(registry: Registry) -> None:
    d = checkout_decision(registry, joint(), book(), "chaoyang", 0, NOW)
    assert d.allowed and d.reason_code is None
    assert d.due == datetime(2026, 4, 13, 23, 59, 59, tzinfo=SHANGHAI)
    assert d.due.isoformat() == "2026-04-13T23:59:59+08:00"


def test_the_due_date_counts_from_the_beijing_date_not_utc(registry: Registry) -> None:
    # 20:00 UTC on 1 March is already 2 March in Beijing
    late_utc = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    d = checkout_decision(registry, joint(), book(), "chaoyang", 0, late_utc)
    assert d.due == datetime(2026, 4, 13, 23, 59, 59, tzinfo=SHANGHAI)


def test_an_nlc_card_borrows_at_capital_for_its_own_loan_period(registry: Registry) -> None:
    d = checkout_decision(registry, nlc_card(), book("0002", home="capital"), "capital", 0, NOW)
    assert d.allowed
    assert d.due == datetime(2026, 4, 2, 23, 59, 59, tzinfo=SHANGHAI)  # 31 days


def test_an_nlc_card_cannot_borrow_at_a_district_library(registry: Registry) -> None:
    d = checkout_decision(registry, nlc_card(), book(), "xicheng", 0, NOW)
    assert_refused(d, "scheme_not_accepted")


def test_nlc_lends_nothing_while_its_old_building_is_renovated(registry: Registry) -> None:
    d = checkout_decision(registry, nlc_card(), book("0001", home="nlc"), "nlc", 0, NOW)
    assert_refused(d, "service_suspended")


@pytest.mark.parametrize("reader", [nlc_card(), joint()])
def test_a_national_library_book_is_not_lent_at_the_capital_library_while_nlc_lends_nothing(
    registry: Registry, reader: ReaderRecord
) -> None:
    """Borrow anywhere lends a member's books on its terms: the NLC's are lent nowhere."""
    d = checkout_decision(registry, reader, book("0001", home="nlc"), "capital", 0, NOW)
    assert_refused(d, "home_lending_suspended")
    assert "所属的图书馆暂停外借" in d.message_zh and "维修" in d.message_zh
    assert "belongs to has suspended lending" in d.message_en


def test_a_book_whose_record_names_no_member_is_judged_by_its_barcodes_owner(
    registry: Registry,
) -> None:
    d = checkout_decision(registry, joint(), book("0001", home="somewhere"), "capital", 0, NOW)
    assert_refused(d, "home_lending_suspended")
    assert checkout_decision(registry, joint(), book("0002", home="somewhere"), "capital", 0, NOW).allowed


def test_borrow_anywhere_a_xicheng_book_at_a_chaoyang_street_library(registry: Registry) -> None:
    assert checkout_decision(registry, joint(), book(), "chaoyang-wangjing", 0, NOW).allowed


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (None, "item_unknown"),
        (book(loanable=False), "item_not_loanable"),
        (book(state="on_loan"), "item_on_loan"),
        (book(state="in_transit"), "item_in_transit"),
        (book(state="on_hold", hold_for=card_hash("bj-joint", "0110000099990")), "item_on_hold"),
        (book(hold_for=card_hash("nlc", "20001000000012")), "item_on_hold"),
        (book(state="on_hold", hold_for=None), "item_on_hold"),
    ],
)
def test_items_that_cannot_leave_say_why(
    registry: Registry, item: ItemRecord | None, code: str
) -> None:
    assert_refused(checkout_decision(registry, joint(), item, "capital", 0, NOW), code)


def test_the_reader_a_hold_is_for_may_borrow_it(registry: Registry) -> None:
    reader = joint()
    mine = card_hash(reader.scheme, reader.number)
    held = book(state="on_hold", hold_for=mine)
    assert checkout_decision(registry, reader, held, "chaoyang", 0, NOW).allowed
    assert checkout_decision(registry, reader, held, "chaoyang", 0, NOW, reader_hash=mine).allowed


def test_the_scheme_limit_counts_loans_already_out(registry: Registry) -> None:
    limit = registry.schemes["bj-joint"].max_items
    assert checkout_decision(registry, joint(), book(), "capital", limit - 1, NOW).allowed
    assert_refused(
        checkout_decision(registry, joint(), book(), "capital", limit, NOW), "limit_reached"
    )


def test_a_blocked_card_is_refused_before_the_book_is_looked_at(registry: Registry) -> None:
    d = checkout_decision(
        registry, joint(state="blocked", block_reason="overdue"), None, "capital", 0, NOW
    )
    assert_refused(d, "card_blocked_overdue")


def test_a_card_that_expired_yesterday_beijing_time_cannot_borrow(registry: Registry) -> None:
    reader = joint(expires=date(2026, 3, 1))
    assert_refused(checkout_decision(registry, reader, book(), "capital", 0, NOW), "card_expired")


# ---- renewals


def test_a_renewal_adds_the_renew_period_from_today(registry: Registry) -> None:
    due = datetime(2026, 3, 10, 23, 59, 59, tzinfo=SHANGHAI)
    d = renew_decision(registry, joint(), book(state="on_loan"), due, 0, NOW, hold_waiting=False)
    assert d.allowed
    assert d.due == datetime(2026, 4, 13, 23, 59, 59, tzinfo=SHANGHAI)


def test_a_renewal_never_shortens_a_loan(registry: Registry) -> None:
    due = datetime(2026, 6, 1, 23, 59, 59, tzinfo=SHANGHAI)
    d = renew_decision(registry, joint(), book(state="on_loan"), due, 0, NOW, hold_waiting=False)
    assert d.allowed and d.due == due


def test_renewals_are_refused_when_used_up_held_or_overdue(registry: Registry) -> None:
    due = datetime(2026, 3, 10, 23, 59, 59, tzinfo=SHANGHAI)
    item = book(state="on_loan")
    used = registry.schemes["bj-joint"].max_renewals
    assert_refused(renew_decision(registry, joint(), item, due, used, NOW, False), "renew_limit")
    assert_refused(renew_decision(registry, joint(), item, due, 0, NOW, True), "renew_on_hold")
    other = book(state="on_loan", hold_for=card_hash("nlc", "20001000000012"))
    assert_refused(renew_decision(registry, joint(), other, due, 0, NOW, False), "renew_on_hold")
    past = datetime(2026, 3, 1, 23, 59, 59, tzinfo=SHANGHAI)
    assert_refused(renew_decision(registry, joint(), item, past, 0, NOW, False), "renew_overdue")
    assert_refused(renew_decision(registry, None, item, due, 0, NOW, False), "card_unknown")
    assert_refused(renew_decision(registry, joint(), None, due, 0, NOW, False), "item_unknown")
    blocked = joint(state="blocked", block_reason="fees")
    assert_refused(renew_decision(registry, blocked, item, due, 0, NOW, False), "card_blocked_fees")


# ---- returns: return anywhere, routed home or to a hold


def test_a_xicheng_book_returned_at_chaoyang_is_transferred_to_xicheng(registry: Registry) -> None:
    assert route_return(registry, book(), "chaoyang", None) == Route("transfer", "xicheng")


def test_a_book_returned_at_its_home_library_is_shelved(registry: Registry) -> None:
    assert route_return(registry, book(), "xicheng", None) == Route("shelve", "xicheng")


def test_nlc_takes_back_books_of_other_members_and_sends_them_home(registry: Registry) -> None:
    assert route_return(registry, book(), "nlc", None) == Route("transfer", "xicheng")
    nlc_book = book("0001", home="nlc")
    assert route_return(registry, nlc_book, "capital", None) == Route("transfer", "nlc")
    assert route_return(registry, nlc_book, "nlc", None) == Route("shelve", "nlc")


def test_a_waiting_hold_goes_to_the_hold_shelf_here_or_to_the_pickup_library(
    registry: Registry,
) -> None:
    assert route_return(registry, book(), "chaoyang", "chaoyang") == Route("hold", "chaoyang")
    assert route_return(registry, book(), "chaoyang", "capital") == Route("transfer", "capital")
    assert route_return(registry, book(), "xicheng", "capital") == Route("transfer", "capital")


def test_a_book_whose_record_has_no_known_home_follows_its_barcode(registry: Registry) -> None:
    stray = book("0105", home="closed-library")
    assert route_return(registry, stray, "capital", None) == Route("transfer", "chaoyang")


# ---- privacy


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王小明", "王*明"),
        ("李雷", "李*"),
        ("欧阳小明", "欧**明"),
        ("王", "*"),
        ("Zhang Wei", "Z*** W**"),
        ("Li", "L*"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_names_are_masked_for_screens_and_logs(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_card_numbers_show_only_the_first_four_and_last_three() -> None:
    assert mask_card("0110000012345") == "0110******345"
    assert mask_card("20001000000012") == "2000*******012"
    assert mask_card("12345") == "**345"
    assert mask_card("") == ""


@given(st.text(max_size=30))
def test_masks_never_crash_and_never_reveal_a_long_number(text: str) -> None:
    masked = mask_card(text)
    assert len(masked) == len(text)
    if len(text) > 7:
        assert masked[4:-3] == "*" * (len(text) - 7)
    mask_name(text)


def test_card_hash_is_sha256_of_scheme_colon_number() -> None:
    expected = hashlib.sha256(b"bj-joint:0110000012341").hexdigest()
    assert card_hash("bj-joint", "0110000012341") == expected
    assert card_hash("nlc", "0110000012341") != expected
