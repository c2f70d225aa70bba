"""The Dongcheng data set agrees with the hub's demo catalogue; the library loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.card_schemes import item_barcode_is_valid, make_card_number
from hub.ledger.catalogue import generate_items, generate_readers
from hub.rules.registry import load_registry
from ils_sim.circulation import Circulation
from ils_sim.library import Item, Library, LibraryDataError, Patron, load_library

DATA = Path(__file__).resolve().parents[2] / "ils_sim" / "data" / "dongcheng.toml"


def test_dongcheng_items_carry_the_hubs_barcodes_and_titles():
    library = load_library(DATA)
    hub_items = {
        i.barcode: i.title
        for i in generate_items(load_registry(), per_member=24)
        if i.home_library == "dongcheng"
    }
    assert len(library.items) >= 20
    for barcode, item in library.items.items():
        assert item_barcode_is_valid(barcode) and barcode.startswith("30101")
        assert item.location == "dongcheng"
    for barcode in list(library.items)[:22]:
        assert library.items[barcode].title == hub_items[barcode]


def test_dongcheng_patrons_are_dongcheng_joint_cards_and_guests():
    library = load_library(DATA)
    hub_reader = next(r for r in generate_readers(load_registry()) if r.home_library == "dongcheng")
    assert library.patrons[hub_reader.number].pin == hub_reader.pin
    cards = [p for p in library.patrons.values() if not p.guest]
    assert len(cards) >= 6
    for p in cards:
        serial = int(p.id[4:-1])
        assert p.id == make_card_number("bj-joint", serial, district="01") and p.pin
    guests = {p.id for p in library.patrons.values() if p.guest}
    assert guests == {"GUEST-NLC", "GUEST-UNIV", "GUEST-JOINT"}
    assert all(library.patrons[g].pin is None for g in guests)


def test_a_library_loads_from_json_as_from_toml(tmp_path):
    doc = {"institution": "east", "item": [{"barcode": "1", "title": "书"}],
           "patron": [{"id": "p", "name": "读者", "pin": "1"}]}  # fmt: skip
    path = tmp_path / "lib.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    library = load_library(path)
    assert library.items["1"].location == "east" and library.login_user is None


def test_duplicate_barcodes_are_refused(tmp_path):
    path = tmp_path / "dup.toml"
    path.write_text('institution = "x"\n[[item]]\nbarcode = "1"\ntitle = "a"\n'
                    '[[item]]\nbarcode = "1"\ntitle = "b"\n', encoding="utf-8")  # fmt: skip
    with pytest.raises(LibraryDataError, match="duplicate"):
        load_library(path)


def test_the_state_file_is_written_on_every_change_and_read_at_start(tmp_path):
    def fresh() -> Library:
        return Library.build(
            institution="x",
            items=[Item("b1", "书", "home")],
            patrons=[Patron("p1", "读者", pin="1")],
        )

    state = tmp_path / "state.json"
    Circulation(fresh(), state_file=state).checkout("p1", "b1")
    assert Circulation(fresh(), state_file=state).charged_items("p1") == ["b1"]
    Circulation(fresh(), state_file=state).checkin("b1", location="home")
    assert Circulation(fresh(), state_file=state).charged_items("p1") == []


def test_a_system_that_refuses_a_repeated_checkout_says_so_and_changes_nothing(tmp_path):
    path = tmp_path / "lib.toml"
    path.write_text('institution = "x"\nrepeat_checkout = "refuse"\n[[item]]\nbarcode = "b1"\n'
                    'title = "书"\n[[patron]]\nid = "p1"\nname = "读者"\n', encoding="utf-8")  # fmt: skip
    circulation = Circulation(load_library(path))
    first = circulation.checkout("p1", "b1")
    due = circulation.item("b1").due  # type: ignore[union-attr]
    again = circulation.checkout("p1", "b1")
    assert first.ok and not again.ok and again.message == "item already checked out to this patron"
    assert circulation.charged_items("p1") == ["b1"] and circulation.item("b1").due == due  # type: ignore[union-attr]


def test_an_unknown_repeat_checkout_rule_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "lib.toml"
    path.write_text('institution = "x"\nrepeat_checkout = "sometimes"\n', encoding="utf-8")
    with pytest.raises(LibraryDataError, match=r"lib\.toml.*repeat_checkout"):
        load_library(path)


def test_a_hold_placed_at_the_desk_stops_the_renewal_and_leaves_the_loan():
    library = Library.build(institution="x", items=[Item("b1", "书", "home")],
                            patrons=[Patron("p1", "读者"), Patron("p2", "读者二")])  # fmt: skip
    circulation = Circulation(library)
    assert circulation.checkout("p1", "b1").ok
    circulation.place_hold("b1", "p2", "home")
    renewed = circulation.renew("p1", "b1")
    assert not renewed.ok and renewed.message == "item has a hold for another patron"
    assert circulation.charged_items("p1") == ["b1"]
