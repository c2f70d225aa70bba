"""Check digits and classification of library, EAN-13 and ISBN barcodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.barcodes import classify, make_item_barcode, make_reader_barcode
from contract.check_digits import ean13_check_digit, ean13_ok, isbn13_ok, luhn_check_digit, luhn_ok

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=30)
institutions = st.text(alphabet="0123456789", min_size=4, max_size=4)
serials = st.integers(min_value=0, max_value=99_999_999)


def _change_one_digit(code: str, position: int, delta: int) -> str:
    changed = str((int(code[position]) + delta) % 10)
    return code[:position] + changed + code[position + 1 :]


def test_known_luhn_and_ean13_examples_pass() -> None:
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert ean13_ok("9780306406157")
    assert isbn13_ok("9780306406157")
    assert ean13_ok("4006381333931")
    assert not isbn13_ok("4006381333931")


@given(digit_strings)
def test_luhn_check_digit_round_trips(body: str) -> None:
    assert luhn_ok(body + luhn_check_digit(body))


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_ean13_check_digit_round_trips(body: str) -> None:
    assert ean13_ok(body + ean13_check_digit(body))


@given(digit_strings, st.data())
def test_luhn_detects_any_single_digit_change(body: str, data: st.DataObject) -> None:
    code = body + luhn_check_digit(body)
    position = data.draw(st.integers(0, len(code) - 1))
    delta = data.draw(st.integers(1, 9))
    assert not luhn_ok(_change_one_digit(code, position, delta))


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.data())
def test_ean13_detects_any_single_digit_change(body: str, data: st.DataObject) -> None:
    code = body + ean13_check_digit(body)
    position = data.draw(st.integers(0, 12))
    delta = data.draw(st.integers(1, 9))
    assert not ean13_ok(_change_one_digit(code, position, delta))


@given(institutions, serials)
def test_made_item_barcode_classifies_as_valid_item(institution: str, serial: int) -> None:
    code = make_item_barcode(institution, serial)
    barcode = classify(code)
    assert len(code) == 14
    assert (barcode.kind, barcode.valid, barcode.institution, barcode.serial) == (
        "item",
        True,
        institution,
        serial,
    )


@given(institutions, serials)
def test_made_reader_barcode_classifies_as_valid_reader(institution: str, serial: int) -> None:
    barcode = classify(make_reader_barcode(institution, serial))
    assert (barcode.kind, barcode.valid) == ("reader", True)


@given(institutions, serials, st.data())
def test_item_barcode_with_one_digit_changed_is_refused_or_not_an_item(
    institution: str, serial: int, data: st.DataObject
) -> None:
    code = make_item_barcode(institution, serial)
    position = data.draw(st.integers(1, 13))  # the first digit decides the kind
    barcode = classify(_change_one_digit(code, position, data.draw(st.integers(1, 9))))
    assert (barcode.kind, barcode.valid, barcode.reason) == ("item", False, "bad-check-digit")


@given(st.text())
def test_classify_never_crashes_and_explains_every_refusal(text: str) -> None:
    barcode = classify(text)
    assert barcode.kind in ("item", "reader", "ean13", "unknown")
    assert barcode.valid == (barcode.reason is None)
    if barcode.kind == "unknown":
        assert not barcode.valid


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("3010100000001X", "item", "not-digits"),
        ("3010100000001", "ean13", "bad-check-digit"),
        ("301010000000188", "unknown", "wrong-length"),
        ("", "unknown", "wrong-length"),
        ("hello", "unknown", "not-digits"),
        ("９７８０３０６４０６１５７", "ean13", "not-digits"),  # full-width digits
        ("978030640615²", "ean13", "not-digits"),
    ],
)
def test_classify_names_the_reason(text: str, kind: str, reason: str) -> None:
    barcode = classify(text)
    assert (barcode.kind, barcode.valid, barcode.reason) == (kind, False, reason)


def test_classify_accepts_codabar_start_stop_characters_and_spaces() -> None:
    code = make_item_barcode("0101", 1)
    assert classify(f" A{code}B ") == classify(code)
    assert classify(code).text == code


def test_isbn_is_recognised() -> None:
    assert classify("9780306406157").is_isbn
    assert not classify("4006381333931").is_isbn


@pytest.mark.parametrize(
    ("institution", "serial"), [("101", 1), ("01a1", 1), ("0101", -1), ("0101", 10**8)]
)
def test_make_item_barcode_refuses_what_does_not_fit(institution: str, serial: int) -> None:
    with pytest.raises(ValueError):
        make_item_barcode(institution, serial)
