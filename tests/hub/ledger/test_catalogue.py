"""The demo catalogue: deterministic, valid, fast, with the problem readers demos need."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime

import pytest

from contract.card_schemes import identify_scheme, item_barcode_is_valid, number_is_valid
from contract.privacy import card_hash
from hub.ledger.catalogue import (
    HOLDER_NUMBER,
    STABLE_SERIALS,
    DemoReader,
    demo_holds,
    generate_items,
    generate_readers,
    item_barcode,
)
from hub.rules.registry import Registry, load_registry
from hub.rules.rules import SHANGHAI, ItemRecord, checkout_decision, reader_status, route_return


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def items(registry: Registry) -> list[ItemRecord]:
    return list(generate_items(registry))


def test_every_member_gets_400_items_about_25_thousand_in_all(
    registry: Registry, items: list[ItemRecord]
) -> None:
    per = Counter(i.home_library for i in items)
    assert set(per) == set(registry.members)
    assert set(per.values()) == {400}
    assert 25_000 <= len(items) <= 26_000


def test_all_barcodes_are_valid_unique_and_carry_the_home_institution_code(
    registry: Registry, items: list[ItemRecord]
) -> None:
    assert len({i.barcode for i in items}) == len(items)
    for i in items:
        assert item_barcode_is_valid(i.barcode), i.barcode
        assert registry.member_for_barcode(i.barcode).id == i.home_library


def test_the_same_seed_gives_the_same_catalogue_and_another_seed_another(
    registry: Registry, items: list[ItemRecord]
) -> None:
    random.seed(99)  # the global generator must not matter
    assert list(generate_items(registry)) == items
    other = list(generate_items(registry, seed=7))
    assert [i.barcode for i in other] == [i.barcode for i in items]
    assert [i.title for i in other] != [i.title for i in items]


def test_a_members_items_do_not_depend_on_how_many_are_generated(
    registry: Registry, items: list[ItemRecord]
) -> None:
    small = [i for i in generate_items(registry, per_member=30) if i.home_library == "xicheng"]
    full = [i for i in items if i.home_library == "xicheng"][:30]
    assert small == full


def test_the_first_items_of_well_known_members_are_pinned(items: list[ItemRecord]) -> None:
    # Scenario scripts and other tests use these; change them only on purpose.
    first = {i.home_library: i for i in reversed(items)}
    assert first["nlc"].barcode == "30001000000010"
    assert first["capital"].barcode == "30002000000018"
    assert first["dongcheng"].barcode == "30101000000018"
    assert first["xicheng"].barcode == "30102000000016"
    assert first["chaoyang"].barcode == "30105000000019"
    assert first["xicheng"].title == "万历十五年 / 黄仁宇 著"
    assert first["nlc"].title == "西游记（上册） / 吴承恩 著"


def test_the_first_serials_of_every_member_are_on_the_shelf_and_loanable(
    registry: Registry, items: list[ItemRecord]
) -> None:
    assert items[0].barcode == item_barcode(registry, items[0].home_library, 1)
    stable = [i for i in items if int(i.barcode[5:13]) <= STABLE_SERIALS]
    assert len(stable) == STABLE_SERIALS * len(registry.members)
    assert all(i.state == "on_shelf" and i.loanable and i.hold_for is None for i in stable)


def test_most_items_are_on_the_shelf_a_few_on_loan_with_chinese_titles(
    items: list[ItemRecord],
) -> None:
    states = Counter(i.state for i in items)
    assert states["on_shelf"] > 0.9 * len(items)
    assert 0 < states["on_loan"] < 0.06 * len(items)
    assert any(not i.loanable for i in items)
    assert 0 < states["in_transit"] < 0.01 * len(items)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in i.title) for i in items)
    assert len({i.title for i in items}) > 300  # volumes and editions vary


# ---- readers


@pytest.fixture(scope="module")
def readers(registry: Registry) -> list[DemoReader]:
    return generate_readers(registry)


def test_readers_are_deterministic_and_numbers_valid_and_unique(
    registry: Registry, readers: list[DemoReader]
) -> None:
    assert generate_readers(registry) == readers
    assert len({(r.scheme, r.number) for r in readers}) == len(readers)
    for r in readers:
        assert number_is_valid(r.scheme, r.number), r
        assert identify_scheme(r.number) == r.scheme
        assert r.home_library in registry.members
        assert r.pin.isdigit() and len(r.pin) == registry.schemes[r.scheme].pin_length


def test_every_reader_scheme_has_valid_expired_and_blocked_readers(
    registry: Registry, readers: list[DemoReader]
) -> None:
    for sid, scheme in registry.schemes.items():
        mine = [r for r in readers if r.scheme == sid]
        assert sum(r.state == "valid" for r in mine) >= 2, sid
        if scheme.technician:
            continue
        kinds = {(r.state, r.block_reason) for r in mine}
        assert {("expired", None), ("blocked", "lost"), ("blocked", "overdue")} <= kinds, sid
        assert ("blocked", "fees") in kinds, sid


def test_pins_are_six_digits_for_joint_cards_and_four_for_nlc(readers: list[DemoReader]) -> None:
    assert {len(r.pin) for r in readers if r.scheme == "bj-joint"} == {6}
    assert {len(r.pin) for r in readers if r.scheme == "nlc"} == {4}
    assert len([r for r in readers if r.scheme == "staff"]) >= 2


def test_the_first_joint_card_reader_is_the_documented_demo_reader(
    registry: Registry, readers: list[DemoReader]
) -> None:
    first = next(r for r in readers if r.scheme == "bj-joint")
    assert (first.number, first.pin, first.name) == ("0110000012341", "123456", "王小明")
    assert first.number == HOLDER_NUMBER
    assert reader_status(registry, first.record(), "xicheng", first.expires).allowed


def test_demo_problem_readers_get_the_matching_refusal(
    registry: Registry, readers: list[DemoReader]
) -> None:
    expected = {
        ("expired", None): "card_expired",
        ("blocked", "lost"): "card_blocked_lost",
        ("blocked", "overdue"): "card_blocked_overdue",
        ("blocked", "fees"): "card_blocked_fees",
    }
    for r in readers:
        if r.state == "valid":
            continue
        d = reader_status(registry, r.record(), "capital", r.expires)
        assert d.reason_code == expected[(r.state, r.block_reason)]


# ---- holds


def test_demo_holds_are_reflected_in_the_items_and_route_returns(
    registry: Registry, items: list[ItemRecord]
) -> None:
    by_barcode = {i.barcode: i for i in items}
    holds = demo_holds(registry)
    assert len(holds) >= 2
    holder_hash = card_hash("bj-joint", HOLDER_NUMBER)
    for h in holds:
        item = by_barcode[h.barcode]
        assert item.state == h.item_state
        assert item.hold_for == h.reader_hash == holder_hash
        here = route_return(registry, item, h.pickup_library, h.pickup_library)
        assert here.route == "hold" and here.library_id == h.pickup_library
        elsewhere = "haidian" if h.pickup_library != "haidian" else "fengtai"
        away = route_return(registry, item, elsewhere, h.pickup_library)
        assert away.route == "transfer" and away.library_id == h.pickup_library


def test_a_book_on_the_hold_shelf_lends_only_to_its_reader(
    registry: Registry, readers: list[DemoReader], items: list[ItemRecord]
) -> None:
    by_barcode = {i.barcode: i for i in items}
    shelf = next(h for h in demo_holds(registry) if h.item_state == "on_hold")
    item = by_barcode[shelf.barcode]
    now = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    holder = next(r for r in readers if r.number == HOLDER_NUMBER)
    other = next(r for r in readers if r.scheme == "bj-joint" and r.number != HOLDER_NUMBER)
    lib = shelf.pickup_library
    assert checkout_decision(registry, holder.record(), item, lib, 0, now).allowed
    refused = checkout_decision(registry, other.record(), item, lib, 0, now)
    assert refused.reason_code == "item_on_hold"
