"""A reader that reads a few blocks first asks the data model whether the record goes
on (contract.tag_data.codec.record_cut_short): every prefix of an encoded record short
of its end says yes, the whole record (and anything after it) says no."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contract.tag_data.codec import encode_tag, record_cut_short
from contract.tag_data.record import TagRecord

records = st.builds(
    TagRecord,
    item_id=st.text(alphabet="0123456789ABCDEFX", min_size=1, max_size=20),
    owner_isil=st.none() | st.just("CN-110000-C"),
    type_of_usage=st.none() | st.integers(0, 255),
)


@given(records)
def test_every_prefix_of_an_iso28560_2_record_is_cut_short_and_the_record_is_not(record: TagRecord) -> None:
    memory = encode_tag("iso28560-2", record)
    assert all(record_cut_short("iso28560-2", memory[:n]) for n in range(len(memory)))
    assert not record_cut_short("iso28560-2", memory)
    assert not record_cut_short("iso28560-2", memory + bytes(12))


def test_iso28560_3_needs_its_basic_block() -> None:
    memory = encode_tag("iso28560-3", TagRecord("30101000000000"))
    assert record_cut_short("iso28560-3", memory[:33])
    assert not record_cut_short("iso28560-3", memory[:34])


def test_a_blank_tag_is_not_cut_short() -> None:
    assert not record_cut_short("iso28560-2", bytes(20))  # nothing to read on: it is unreadable
