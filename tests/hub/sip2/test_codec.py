"""The frame codec: properties (anything encoded decodes back; a corrupted checksum is
caught; junk only ever raises Sip2ProtocolError) and the framing cases seen on the wire."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysip2 import calculate_checksum, decode_message

from hub.sip2.codec import (
    ENCODINGS,
    FIXED_WIDTHS,
    Frame,
    FrameBuffer,
    checksum,
    decode_frame,
    encode_frame,
)
from hub.sip2.errors import Sip2ChecksumError, Sip2ProtocolError

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="|")
LATIN = st.characters(min_codepoint=0xA0, max_codepoint=0xFF)  # within cp850 mostly
FIELD_IDS = st.sampled_from(["AA", "AB", "AE", "AF", "AJ", "AO", "AQ", "AU", "BX", "CQ", "Z9"])
MESSAGE_IDS = st.sampled_from(sorted(k for k in FIXED_WIDTHS if k not in ("96", "97")))


def values(encoding: str) -> st.SearchStrategy[str]:
    if encoding == "cp850":
        return st.text(st.one_of(ASCII, LATIN), max_size=20).filter(lambda v: _writable(v, encoding))
    return st.text(st.one_of(ASCII, CJK), max_size=20)


def _writable(value: str, encoding: str) -> bool:
    try:
        value.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def frames(draw: st.DrawFn, encoding: str) -> tuple[str, str, list[tuple[str, str]], int]:
    mid = draw(MESSAGE_IDS)
    fixed = "".join(draw(st.lists(st.sampled_from("YN 0123456789"), min_size=FIXED_WIDTHS[mid],
                                  max_size=FIXED_WIDTHS[mid])))
    fields = draw(st.lists(st.tuples(FIELD_IDS, values(encoding)), max_size=6))
    seq = draw(st.integers(0, 9))
    return mid, fixed, fields, seq


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_anything_encoded_decodes_back(encoding: str, data: st.DataObject) -> None:
    mid, fixed, fields, seq = data.draw(frames(encoding))
    raw = encode_frame(mid, fixed, fields, encoding=encoding, sequence=seq)
    assert raw.endswith(b"\r") and raw.count(b"\r") == 1
    decoded = decode_frame(raw, encoding=encoding)
    assert decoded == Frame(mid, fixed, tuple(fields), seq, raw[-5:-1].decode())


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_corrupted_byte_is_detected(encoding: str, data: st.DataObject) -> None:
    mid, fixed, fields, seq = data.draw(frames(encoding))
    raw = bytearray(encode_frame(mid, fixed, fields, encoding=encoding, sequence=seq))
    pos = data.draw(st.integers(0, len(raw) - 6))  # any byte before the checksum digits
    delta = data.draw(st.integers(1, 255))
    original = raw[pos]
    raw[pos] = (raw[pos] + delta) % 256
    if raw[pos] in (0x0D, 0x0A):  # a frame end is not a corruption of this frame
        raw[pos] = 0x21 if original != 0x21 else 0x22
    with pytest.raises(Sip2ProtocolError):
        decoded = decode_frame(bytes(raw), encoding=encoding, require_trailer=True)
        pytest.fail(f"corruption not detected: {decoded}")


@settings(max_examples=150, deadline=None)
@given(junk=st.binary(max_size=300), encoding=st.sampled_from(ENCODINGS))
def test_junk_never_crashes_the_reader(junk: bytes, encoding: str) -> None:
    buf = FrameBuffer(max_bytes=200)
    try:
        buf.feed(junk + b"\r")
        while (raw := buf.next_frame()) is not None:
            decode_frame(raw, encoding=encoding)
    except Sip2ProtocolError:
        pass


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_junk_with_a_valid_checksum_only_raises_protocol_errors(data: st.DataObject) -> None:
    body = data.draw(st.binary(max_size=80)).replace(b"\r", b"").replace(b"\0", b"")
    text = data.draw(st.sampled_from([b"", b"98", b"12", b"64", b"10"])) + body + b"AY1AZ"
    with contextlib.suppress(Sip2ProtocolError):
        decode_frame(text + checksum(text).encode() + b"\r", encoding="gb18030")


def test_checksum_is_over_bytes_and_zero_padded_like_pysip2s() -> None:
    raw = encode_frame("94", "1", [], encoding="utf-8", sequence=0)
    assert raw == b"941AY0AZ" + calculate_checksum(b"941AY0AZ").encode() + b"\r"
    # the sum of 0x0A bytes... is small enough to need zero-padding
    assert checksum(b"\xff" * 257) == f"{(-(255 * 257)) & 0xFFFF:04X}" and len(checksum(b"")) == 4
    assert checksum(b"") == "0000"


def test_pysip2_reads_what_we_write_in_gb18030() -> None:
    raw = encode_frame("17", "20260101    120000", [("AO", "首都"), ("AB", "B1"), ("AC", "")],
                       encoding="gb18030", sequence=3)
    decoded = decode_message(raw, encoding="gb18030")
    assert decoded.message.institution_id == "首都"
    assert decoded.sequence_number == 3


def test_a_bar_byte_inside_a_gb18030_character_is_not_a_field_end() -> None:
    assert "億".encode("gb18030") == b"\x83|"
    raw = encode_frame("18", "030001" + "20260101    120000",
                       [("AB", "B1"), ("AJ", "億萬"), ("AQ", "东城")], encoding="gb18030", sequence=1)
    frame = decode_frame(raw, encoding="gb18030")
    assert frame.get("AJ") == "億萬" and frame.get("AQ") == "东城"


def test_96_and_97_carry_only_az() -> None:
    raw = encode_frame("97", "", [], encoding="cp850", sequence=None)
    assert raw == b"97AZ" + checksum(b"97AZ").encode() + b"\r"
    assert decode_frame(raw, encoding="cp850") == Frame("97", "", (), None, raw[4:8].decode())


def test_a_frame_without_error_detection_is_read() -> None:
    frame = decode_frame(b"941\r", encoding="cp850")
    assert (frame.message_id, frame.fixed, frame.sequence, frame.checksum) == ("94", "1", None, None)


def test_lowercase_hex_and_a_missing_final_bar_are_tolerated() -> None:
    text = b"36Y20260101    120000AOcapital|AAP1AY2AZ"
    frame = decode_frame(text + checksum(text).lower().encode() + b"\r\n", encoding="cp850")
    assert frame.get("AA") == "P1" and frame.sequence == 2


def test_a_wrong_checksum_raises_the_checksum_error() -> None:
    with pytest.raises(Sip2ChecksumError, match="does not match"):
        decode_frame(b"941AY0AZ0000\r", encoding="cp850")


def test_a_missing_trailer_is_a_damaged_one_when_required() -> None:
    with pytest.raises(Sip2ChecksumError, match="no AZ checksum"):
        decode_frame(b"941\r", encoding="cp850", require_trailer=True)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\r", "unknown SIP2 message id"),
        (b"XX\r", "unknown SIP2 message id"),
        (b"98YYY\r", "fixed part cut short"),
        (b"941|\r", "bad variable field"),
        (b"94\x001\r", "NUL"),
        (b"941AB\xff\xfe|\r", "not valid utf-8"),
    ],
)
def test_malformed_frames_say_what_is_wrong(raw: bytes, words: str) -> None:
    with pytest.raises(Sip2ProtocolError, match=words):
        decode_frame(raw, encoding="utf-8")


@pytest.mark.parametrize("value", ["a|b", "a\rb"])
def test_values_that_would_break_the_frame_are_refused_before_sending(value: str) -> None:
    with pytest.raises(Sip2ProtocolError, match="field AB"):
        encode_frame("17", "20260101    120000", [("AB", value)], encoding="utf-8", sequence=0)


def test_a_value_the_encoding_cannot_write_is_refused() -> None:
    with pytest.raises(Sip2ProtocolError, match="cannot be written in cp850"):
        encode_frame("17", "20260101    120000", [("AB", "红")], encoding="cp850", sequence=0)


def test_frames_split_across_reads_and_crlf_are_reassembled() -> None:
    buf = FrameBuffer()
    buf.feed(b"941AY0AZ")
    assert buf.next_frame() is None
    buf.feed(b"FE6D\r\n942")
    assert buf.next_frame() == b"941AY0AZFE6D\r"
    buf.feed(b"\r")
    assert buf.next_frame() == b"942\r"


def test_an_endless_line_is_junk() -> None:
    buf = FrameBuffer(max_bytes=100)
    buf.feed(b"9" * 101)
    with pytest.raises(Sip2ProtocolError, match="without a CR"):
        buf.next_frame()
