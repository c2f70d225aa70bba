"""Tag data models: ISO 28560-2 / GB/T 35660.2 and ISO 28560-3 (contract/tag_data).

Known vectors:
- ISO 28560-3: the Danish-data-model tag "11010131...3e44453730350000..." (item
  11223344, owner DE-705, CRC 0x3E51 stored 51 3E) from libdanrfid's DDMDataTest
  (github.com/GallusMax/libdanrfid, src/test/java/org/rfid/libdanrfid/DDMDataTest.java).
- ISO 28560-2: a Finnish library tag (item 1620168259 in integer compaction with an
  offset byte and 0x80 padding, type of usage 0x10, ISIL in 28560-2's own compaction)
  from lainuri's 02-iso28560_test.py (github.com/Hypernova-Oy/lainuri,
  programs/lainuri-serve/lib/iso15692/tests/).
- CRC-16/IBM-3740 ("CCITT-FALSE") check value 0x29B1 for b"123456789" (the CRC
  catalogue's check value for that algorithm).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.tag_data import compaction, iso28560_2, iso28560_3
from contract.tag_data.codec import decode_tag, encode_tag
from contract.tag_data.crc16 import crc16_ccitt_false
from contract.tag_data.record import ExtraElement, TagDataError, TagRecord, parse_data_model
from contract.tag_data.sets import incomplete_sets

DANISH_TAG = bytes.fromhex("11010131313232333334340000000000000000513e4445373035000000000000")
FINNISH_TAG = bytes.fromhex("9101046091ce43800201a80501106702424103073240de05ab075b00") + bytes(20)


def test_crc_check_value_is_the_ccitt_false_one() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_danish_vector_decodes_with_its_crc() -> None:
    record = iso28560_3.decode(DANISH_TAG)
    assert (record.item_id, record.owner_isil, record.type_of_usage) == ("11223344", "DE-705", 1)
    assert iso28560_3.crc_of(DANISH_TAG.ljust(34, b"\x00")) == 0x3E51
    # Re-encoding gives the same 32 bytes the tag holds, plus the basic block's last two NULs.
    assert iso28560_3.encode(record) == DANISH_TAG + bytes(2)


def test_danish_tag_with_a_wrong_crc_is_refused_at_byte_19() -> None:
    broken = bytearray(DANISH_TAG)
    broken[19], broken[20] = broken[20], broken[19]
    with pytest.raises(TagDataError) as caught:
        iso28560_3.decode(bytes(broken))
    assert caught.value.offset == 19


def test_finnish_vector_decodes_item_usage_and_keeps_the_rest() -> None:
    record = iso28560_2.decode(FINNISH_TAG)
    assert record.item_id == "1620168259"
    assert record.type_of_usage == 0x10
    assert ExtraElement(2, 0, b"\xa8") in record.extra
    assert ExtraElement(7, 6, b"BA") in record.extra
    # Written back, nothing is lost: padding is dropped and elements go in OID order.
    again = iso28560_2.decode(iso28560_2.encode(record))
    assert again.item_id == record.item_id and again.type_of_usage == record.type_of_usage
    assert sorted(again.extra, key=lambda e: e.oid) == sorted(record.extra, key=lambda e: e.oid)


def test_known_compaction_vectors() -> None:
    assert compaction.compact("1620168259", compaction.INTEGER) == bytes.fromhex("6091ce43")
    assert compaction.compact("012", compaction.NUMERIC) == bytes.fromhex("012f")
    assert (
        compaction.decompact(compaction.compact("AB", compaction.FIVE_BIT), compaction.FIVE_BIT)
        == "AB"
    )
    assert compaction.best_scheme("CN-110000-1") == compaction.SIX_BIT


_ascii_id = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)
_any_id = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)
_isil = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)


@st.composite
def _set_info(draw: st.DrawFn) -> tuple[int | None, int | None]:
    if not draw(st.booleans()):
        return None, None
    size = draw(st.integers(1, 999))
    return draw(st.integers(1, size)), size


@st.composite
def _records_2(draw: st.DrawFn) -> TagRecord:
    part, size = draw(_set_info())
    oids = draw(st.lists(st.integers(6, 200), unique=True, max_size=3).map(sorted))
    extra = tuple(
        ExtraElement(oid, draw(st.integers(0, 7)), draw(st.binary(min_size=1, max_size=200)))
        for oid in oids
    )
    return TagRecord(
        item_id=draw(_any_id),
        owner_isil=draw(st.none() | _isil),
        set_part=part,
        set_size=size,
        type_of_usage=draw(st.none() | st.integers(0, 255)),
        extra=extra,
    )


@settings(max_examples=300, deadline=None)
@given(_records_2())
def test_iso28560_2_round_trips(record: TagRecord) -> None:
    assert decode_tag("iso28560-2", encode_tag("iso28560-2", record)) == record


@st.composite
def _records_3(draw: st.DrawFn) -> TagRecord:
    size = draw(st.integers(2, 255))
    part, size = draw(st.just((None, None)) | st.integers(1, size).map(lambda p: (p, size)))
    country = draw(
        st.text(st.characters(min_codepoint=0x41, max_codepoint=0x5A), min_size=2, max_size=2)
    )
    library = draw(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=11)
    )
    return TagRecord(
        item_id=draw(_ascii_id),
        owner_isil=f"{country}-{library}",
        set_part=part,
        set_size=size,
        type_of_usage=draw(st.integers(0, 15)),
        extension=draw(st.binary(max_size=64)),
    )


@settings(max_examples=300, deadline=None)
@given(_records_3())
def test_iso28560_3_round_trips(record: TagRecord) -> None:
    assert decode_tag("iso28560-3", encode_tag("iso28560-3", record)) == record


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["iso28560-2", "iso28560-3"]), st.binary(max_size=80))
def test_garbage_raises_only_tag_data_error(model: str, memory: bytes) -> None:
    try:
        decode_tag(parse_data_model(model), memory)
    except TagDataError as error:
        assert error.reason


def test_truncated_element_names_its_offset() -> None:
    with pytest.raises(TagDataError) as caught:
        iso28560_2.decode(bytes.fromhex("11") + bytes.fromhex("04") + b"\x01")
    assert caught.value.offset == 0


def test_unknown_data_model_is_refused() -> None:
    with pytest.raises(TagDataError, match="iso28560-2"):
        parse_data_model("iso28560-9")


def test_set_with_a_missing_part_is_refused_in_both_languages() -> None:
    discs = [TagRecord("9001", "CN-1", set_part=p, set_size=3) for p in (1, 3, 3)]
    (refusal,) = incomplete_sets([*discs, TagRecord("9002")])
    assert refusal.present == (1, 3)
    assert refusal.reason.en.startswith("2 of 3 parts present")
    assert "3件" in refusal.reason.zh and "2件" in refusal.reason.zh
    assert incomplete_sets([*discs, TagRecord("9001", "CN-1", set_part=2, set_size=3)]) == []
