"""The member registry and card schemes: the seed's 63 libraries, recognition, validation."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.card_schemes import (
    NUMBER_FORMATS,
    identify_scheme,
    item_barcode_is_valid,
    luhn_check_digit,
    luhn_valid,
    make_card_number,
    make_item_barcode,
    number_is_valid,
)
from hub.rules.registry import LENDING_MEMBERS, Registry, RegistryError, load_registry

# The seed article's list "北京63家可通借通还图书馆", copied into the repository with a note
# of its source: one "●" line per library, in the article's order and spelling.
SEED_LIST = Path(__file__).parent / "data" / "seed_63_libraries.txt"


def seed_names() -> list[str]:
    return re.findall(r"^●(.+)$", SEED_LIST.read_text("utf-8"), flags=re.MULTILINE)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def _packaged(name: str) -> str:
    return (resources.files("contract") / "data" / name).read_text("utf-8")


def test_the_63_lending_members_load_with_the_seed_names_in_seed_order(registry: Registry) -> None:
    lending = registry.lending_members()
    assert len(lending) == LENDING_MEMBERS == 63
    assert [m.name_zh for m in lending] == seed_names()


def test_the_seed_list_names_63_distinct_libraries() -> None:
    names = seed_names()
    assert len(names) == len(set(names)) == 63
    assert all(n == n.strip() and n for n in names)


def test_ids_and_institution_codes_are_unique_ascii(registry: Registry) -> None:
    ids = list(registry.members)
    codes = [m.institution_code for m in registry.members.values()]
    assert len(set(ids)) == len(ids)
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids)
    assert all(re.fullmatch(r"[0-9]{4}", c) for c in codes)


def test_well_known_members_have_the_documented_ids_codes_and_districts(registry: Registry) -> None:
    expected = {
        "nlc": ("国家图书馆", "0001", "海淀区", "national"),
        "capital": ("首都图书馆", "0002", "朝阳区", "municipal"),
        "dongcheng": ("东城区图书馆", "0101", "东城区", "district"),
        "xicheng": ("西城区图书馆", "0102", "西城区", "district"),
        "chongwen": ("崇文图书馆", "0103", "东城区", "district"),
        "xuanwu": ("宣武图书馆", "0104", "西城区", "district"),
        "chaoyang": ("朝阳区图书馆", "0105", "朝阳区", "district"),
        "dongcheng-hepingli": ("和平里街道图书馆", "1101", "东城区", "street"),
        "xicheng-jinrongjie": ("金融街街道图书馆", "1201", "西城区", "street"),
        "daxing-yizhuang": ("亦庄开发区分馆", "2501", "大兴区", "branch"),
    }
    for mid, (name, code, district, kind) in expected.items():
        m = registry.member(mid)
        assert (m.name_zh, m.institution_code, m.district, m.kind) == (name, code, district, kind)
    assert registry.member("chongwen").former_district == "崇文区"
    assert registry.member("xuanwu").former_district == "宣武区"


def test_the_university_member_is_an_extra_from_measure_3(registry: Registry) -> None:
    extras = [m for m in registry.members.values() if not m.lending_alliance]
    assert [m.id for m in extras] == ["pku-public"]
    pku = extras[0]
    assert pku.kind == "university" and pku.measure == 3
    assert registry.accepts("pku-public", "borrow", "univ-public")
    assert not registry.accepts("pku-public", "borrow", "bj-joint")
    assert not registry.accepts("capital", "borrow", "univ-public")


def test_nlc_takes_returns_and_reading_but_not_loans_and_says_why(registry: Registry) -> None:
    nlc = registry.member("nlc")
    assert nlc.services == frozenset({"return", "read"})
    assert not registry.accepts("nlc", "borrow", "nlc")
    assert registry.accepts("nlc", "return", "nlc")
    assert registry.accepts("nlc", "return", "bj-joint")
    assert "维修" in nlc.note_zh and "renovat" in nlc.note_en


def test_nlc_and_capital_recognise_each_others_cards(registry: Registry) -> None:
    assert registry.accepts("capital", "borrow", "nlc")
    assert registry.accepts("capital", "borrow", "bj-joint")
    assert registry.accepts("nlc", "read", "bj-joint")
    assert registry.accepts("nlc", "return", "bj-joint")


def test_a_joint_card_borrows_at_every_public_member_but_an_nlc_card_only_at_capital(
    registry: Registry,
) -> None:
    # Seed measure 2 names only the two libraries: elsewhere an NLC card returns and reads.
    for m in registry.lending_members():
        if m.id == "nlc":
            continue
        assert registry.accepts(m.id, "borrow", "bj-joint"), m.id
        assert registry.accepts(m.id, "return", "nlc"), m.id
        assert registry.accepts(m.id, "borrow", "nlc") == (m.id == "capital"), m.id


def test_staff_cards_are_accepted_for_no_reader_service(registry: Registry) -> None:
    assert registry.schemes["staff"].technician
    for m in registry.members.values():
        for service in ("borrow", "return", "read"):
            assert not registry.accepts(m.id, service, "staff")


def test_member_for_barcode_reads_the_institution_code(registry: Registry) -> None:
    for mid in ("nlc", "capital", "xicheng", "chaoyang-wangjing", "pku-public"):
        code = registry.member(mid).institution_code
        assert registry.member_for_barcode(make_item_barcode(code, 1234)).id == mid
    good = make_item_barcode("0102", 7)
    bad_check = good[:-1] + str((int(good[-1]) + 1) % 10)
    for junk in (bad_check, good[:-1], "2" + good[1:], make_item_barcode("0999", 1), "", "x" * 14):
        assert registry.member_for_barcode(junk) is None


def test_unknown_member_is_a_registry_error(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="nowhere"):
        registry.member("nowhere")
    with pytest.raises(RegistryError):
        registry.accepts("nowhere", "borrow", "bj-joint")
    assert not registry.accepts("capital", "lend", "bj-joint")
    assert not registry.accepts("capital", "borrow", "no-such-scheme")


# ---- schemes


def test_scheme_rules_match_the_domain_facts(registry: Registry) -> None:
    joint = registry.schemes["bj-joint"]
    assert joint.loan_days == 42 and joint.launched == 2004 and joint.pin_length == 6
    assert [lv.deposit_yuan for lv in joint.levels] == [100, 200]
    assert registry.schemes["nlc"].pin_length == 4
    assert registry.schemes["univ-public"].issuing_quota
    assert all(s.pin_max_attempts == 5 for s in registry.schemes.values())
    assert joint.lockout_minutes(1) == joint.lockout_base_minutes == 15
    assert joint.lockout_minutes(1) < joint.lockout_minutes(2) < joint.lockout_minutes(3)  # type: ignore[operator]
    assert joint.lockout_minutes(99) is None  # until staff lift it


def test_the_number_formats_in_code_agree_with_schemes_toml() -> None:
    doc = tomllib.loads(_packaged("schemes.toml"))
    in_toml = {s["id"]: (s["pattern"], s["length"]) for s in doc["scheme"]}
    in_code = {f.scheme: (f.pattern, f.length) for f in NUMBER_FORMATS.values()}
    assert in_toml == in_code
    for s in doc["scheme"]:
        assert identify_scheme(s["example"]) == s["id"]
        assert number_is_valid(s["id"], s["example"])


def test_luhn_matches_the_textbook_example() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_examples_from_the_brief_are_identified() -> None:
    assert identify_scheme("0110000012341") == "bj-joint"
    assert number_is_valid("bj-joint", "0110000012341")
    assert not number_is_valid("bj-joint", "0110000012342")
    assert identify_scheme("20001000000012") == "nlc"
    assert identify_scheme("30101000000018") is None  # an item barcode, not a card
    assert item_barcode_is_valid("30101000000018")
    assert identify_scheme("０１１００００１２３４１") is None  # full-width digits
    assert identify_scheme("0110000012341\n") is None


@given(st.text(max_size=40))
def test_identify_and_validate_never_crash_on_any_text(text: str) -> None:
    scheme = identify_scheme(text)
    assert scheme is None or scheme in NUMBER_FORMATS
    for sid in (*NUMBER_FORMATS, "nope", ""):
        assert number_is_valid(sid, text) in (True, False)
    assert luhn_valid(text) in (True, False)


@given(st.text(alphabet="0123456789", min_size=11, max_size=14))
def test_a_valid_number_is_always_identified_as_its_scheme(digits: str) -> None:
    for sid in NUMBER_FORMATS:
        if number_is_valid(sid, digits):
            assert identify_scheme(digits) == sid


@given(
    st.sampled_from(sorted(NUMBER_FORMATS)),
    st.integers(min_value=0, max_value=9_999_999),
    st.integers(min_value=0, max_value=99),
    st.integers(min_value=0, max_value=999),
)
def test_make_card_number_round_trips(sid: str, serial: int, district: int, univ: int) -> None:
    number = make_card_number(sid, serial, district=f"{district:02d}", university=f"{univ:03d}")
    assert identify_scheme(number) == sid
    assert number_is_valid(sid, number)
    assert int(number[-1 - NUMBER_FORMATS[sid].serial_digits : -1]) == serial
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not number_is_valid(sid, wrong)


def test_make_card_number_refuses_what_it_cannot_make() -> None:
    with pytest.raises(ValueError):
        make_card_number("nope", 1)
    with pytest.raises(ValueError):
        make_card_number("staff", 10**8)
    with pytest.raises(ValueError):
        make_card_number("bj-joint", 1, district="1")


# ---- a bad file is refused with a message naming the member and field


def _write_members(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "members.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ('id = "xicheng"\n', 'id = "dongcheng"\n', r"'dongcheng'.*'id'.*duplicate"),
        (
            'institution_code = "0102"',
            'institution_code = "0101"',
            r"'xicheng'.*institution_code.*0101",
        ),
        (
            'institution_code = "0102"',
            'institution_code = "102"',
            r"'xicheng'.*institution_code.*4 digits",
        ),
        (
            'institution_code = "0102"',
            "institution_code = 102",
            r"'xicheng'.*institution_code.*string",
        ),
        ('kind = "national"', 'kind = "palace"', r"'nlc'.*'kind'.*palace"),
        (
            'services = ["return", "read"]',
            'services = ["return", "lend"]',
            r"'nlc'.*services.*lend",
        ),
        (
            'read = ["nlc", "bj-joint"] }',
            'read = ["nlc", "bj-jiont"] }',
            r"'nlc'.*accepts.*bj-jiont",
        ),
        ('district = "海淀区"', 'district = "海淀"', r"'nlc'.*district.*海淀"),
        (
            "lending_alliance = false\nmeasure",
            "lending_alliance = true\nmeasure",
            r"'pku-public'.*kind.*university",
        ),
        ('name_zh = "首都图书馆"', 'name_zh = "国家图书馆"', r"'capital'.*name_zh.*'nlc'"),
        (
            'name_en = "Xuanwu Library"',
            'name_en = "Xuanwu Library"\ncolour = "red"',
            r"'xuanwu'.*colour.*unknown",
        ),
        ('[[member]]\nid = "nlc"', '[[member]]\nid = "NLC"', r"'NLC'.*'id'.*slug"),
        ('note_en = "The National', 'note_xx = "The National', r"'nlc'.*note_xx"),
    ],
)
def test_a_corrupt_members_file_names_the_member_and_field(
    tmp_path: Path, old: str, new: str, expect: str
) -> None:
    text = _packaged("members.toml")
    assert old in text
    path = _write_members(tmp_path, text.replace(old, new, 1))
    with pytest.raises(RegistryError, match=expect):
        load_registry(members_path=path)


def test_a_members_file_without_63_lenders_is_refused(tmp_path: Path) -> None:
    text = _packaged("members.toml")
    cut = text.index('[[member]]\nid = "xuanwu"')
    path = _write_members(tmp_path, text[:cut] + text[text.index("# ---- extras") :])
    with pytest.raises(RegistryError, match=r"62 members.*63"):
        load_registry(members_path=path)


def test_broken_toml_and_missing_files_are_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(members_path=_write_members(tmp_path, "[[member]\nid ="))
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(members_path=tmp_path / "absent.toml")


def test_a_schemes_file_that_disagrees_with_the_code_is_refused(tmp_path: Path) -> None:
    text = _packaged("schemes.toml")
    path = tmp_path / "schemes.toml"
    path.write_text(text.replace('pattern = "88[0-9]{8}[0-9]"', 'pattern = "88[0-9]{9}"'), "utf-8")
    with pytest.raises(RegistryError, match=r"'staff'.*pattern.*disagrees"):
        load_registry(schemes_path=path)
    path.write_text(text.replace("max_items = 3\n", "max_items = true\n", 1), "utf-8")
    with pytest.raises(RegistryError, match=r"'nlc'.*max_items.*boolean"):
        load_registry(schemes_path=path)
