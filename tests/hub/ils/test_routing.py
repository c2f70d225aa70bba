"""Which member's system a card and a book belong to, and whom that system lends to."""

from __future__ import annotations

import pytest

from contract.card_schemes import make_card_number
from hub.ils.ils_routing import JOINT_CARD_ISSUERS, IlsRouting, NoGuestPatron, Patron
from hub.rules.registry import Registry


@pytest.fixture
def routing(registry: Registry) -> IlsRouting:
    return IlsRouting(registry, {"dongcheng": "east", "xicheng": "west"}, {"east": {"nlc": "GUEST-NLC"}})


def joint(district: str, serial: int = 77) -> str:
    return make_card_number("bj-joint", serial, district=district)


def test_a_joint_card_belongs_to_the_district_library_of_its_issuing_district(routing: IlsRouting):
    assert routing.card_member("bj-joint", joint("01")) == "dongcheng"
    assert routing.card_member("bj-joint", joint("02")) == "xicheng"
    assert routing.card_member("bj-joint", joint("08")) == "haidian"
    assert routing.card_member("bj-joint", joint("10")) == "capital"


def test_the_former_districts_cards_belong_to_their_own_libraries(routing: IlsRouting):
    assert routing.card_member("bj-joint", joint("03")) == "chongwen"
    assert routing.card_member("bj-joint", joint("04")) == "xuanwu"


def test_an_issuing_district_maps_to_its_own_district_library_or_to_none(routing: IlsRouting, registry: Registry):
    found = 0
    for code, (district, _former) in JOINT_CARD_ISSUERS.items():
        member = routing.card_member("bj-joint", joint(code))
        if member is not None:  # not every district's library is a member (yet)
            assert registry.members[member].district == district, code
            found += 1
    assert found >= 10


def test_a_joint_card_with_a_wrong_check_digit_belongs_to_nobody(routing: IlsRouting):
    number = joint("01")
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert routing.card_member("bj-joint", broken) is None


def test_an_nlc_card_belongs_to_the_national_library_and_others_to_their_ledger_home(routing: IlsRouting):
    assert routing.card_member("nlc", make_card_number("nlc", 5)) == "nlc"
    univ = make_card_number("univ-public", 5)
    assert routing.card_member("univ-public", univ, ledger_home="pku-public") == "pku-public"
    assert routing.card_member("univ-public", univ) is None


def test_cards_and_books_of_listed_members_go_to_their_system_others_stay_on_the_hub(
    routing: IlsRouting, registry: Registry
):
    assert routing.card_system("bj-joint", joint("01")) == "east"
    assert routing.card_system("bj-joint", joint("05")) is None
    dongcheng_book = "30101000000018"
    assert routing.item_member(dongcheng_book) == "dongcheng"
    assert routing.item_system(dongcheng_book) == "east"
    assert routing.item_system(dongcheng_book, ledger_home="capital") is None  # the ledger's home wins
    assert routing.item_system("not-a-barcode") is None


def test_a_system_lends_to_its_own_reader_by_id_and_to_a_partner_through_its_guest(routing: IlsRouting):
    own = joint("01")
    assert routing.patron_for("east", "bj-joint", own, card_system="east") == Patron(own, guest=False)
    nlc = make_card_number("nlc", 5)
    assert routing.patron_for("east", "nlc", nlc, card_system=None) == Patron("GUEST-NLC", guest=True)


def test_a_reader_of_another_system_without_a_guest_for_the_scheme_cannot_borrow(routing: IlsRouting):
    with pytest.raises(NoGuestPatron) as caught:
        routing.patron_for("west", "nlc", make_card_number("nlc", 5), card_system=None)
    assert (caught.value.system, caught.value.scheme) == ("west", "nlc")
    # a joint card of Xicheng at Dongcheng's system is a partner too (per scheme)
    with pytest.raises(NoGuestPatron):
        routing.patron_for("east", "bj-joint", joint("02"), card_system="west")


def test_a_member_the_alliance_does_not_have_is_refused_at_start(registry: Registry):
    with pytest.raises(ValueError, match="not an alliance member"):
        IlsRouting(registry, {"dongchng": "east"})
