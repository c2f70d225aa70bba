"""The serial barcode scanner driver, with real pyserial on a real pseudo-terminal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.events import BarcodeRead, BarcodeRejected, DeviceFault, DeviceRecovered
from drivers.scanner import SUFFIX_BYTES, BarcodeScanner, Frame, LineFramer, Suffix
from hal_sim.scanner_pty import SimulatedScanner
from tests.drivers.device_events import Events

ITEM = "30101000000018"
ISBN = "9780306406157"




@contextmanager
def _connected(
    suffix: Suffix = "CR", source: str = "desk"
) -> Iterator[tuple[SimulatedScanner, BarcodeScanner, Events]]:
    events = Events()
    with (
        SimulatedScanner(suffix) as sim,
        BarcodeScanner(
            sim.port,
            events.post,
            suffix=suffix,
            source=source,
            max_length=20,
            reconnect_initial_s=0.02,
            reconnect_max_s=0.2,
        ) as scanner,
    ):
        assert sim.wait_opened(3)
        assert scanner.wait_connected(3)
        yield sim, scanner, events


@pytest.fixture
def desk() -> Iterator[tuple[SimulatedScanner, BarcodeScanner, Events]]:
    with _connected() as connected:
        yield connected


@pytest.mark.parametrize("suffix", ["CR", "LF", "CRLF"])
def test_a_scan_arrives_as_one_barcode_whatever_the_suffix(suffix: Suffix) -> None:
    with _connected(suffix) as (sim, _scanner, events):
        sim.scan(ITEM)
        sim.scan(ISBN)
        assert events.next() == BarcodeRead(ITEM, "desk")
        assert events.next() == BarcodeRead(ISBN, "desk")
        sim.scan(ITEM)  # the marker: CR/LF's empty second line would have come before it
        assert events.next() == BarcodeRead(ITEM, "desk")


def test_chute_scanner_names_its_source() -> None:
    with _connected(source="chute") as (sim, scanner, events):
        sim.scan(ITEM)
        assert events.next() == BarcodeRead(ITEM, "chute")
        assert scanner.device == "chute_scanner"


def test_a_scan_split_across_writes_is_reassembled(desk) -> None:
    sim, _scanner, events = desk
    sim.scan_split(ITEM, pieces=5)
    sim.scan_split(ISBN, pieces=14)
    assert events.next() == BarcodeRead(ITEM, "desk")
    assert events.next() == BarcodeRead(ISBN, "desk")


def test_noise_is_reported_and_the_next_scan_still_arrives(desk) -> None:
    sim, _scanner, events = desk
    sim.noise(b"\x00\xff\x13\r")
    sim.noise(b"\xfe\xfe")  # no line ending: dropped once the line goes quiet
    assert events.next() == BarcodeRejected("non-printable", 3, "desk")
    assert events.next() == BarcodeRejected("non-printable", 2, "desk")
    sim.scan(ITEM)
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_an_overlong_line_is_rejected_and_framing_resynchronises(desk) -> None:
    sim, _scanner, events = desk
    sim.scan("9" * 30)
    sim.scan(ITEM)
    assert events.next() == BarcodeRejected("overlong", 30, "desk")
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_unplugging_posts_one_fault_and_plugging_back_recovers(desk) -> None:
    sim, scanner, events = desk
    sim.unplug()
    fault = events.next()
    assert isinstance(fault, DeviceFault)
    assert (fault.device, fault.code) == ("scanner", "scanner-unplugged")
    assert fault.hint
    # Retries do not repeat the fault: the driver's loop beats once per reopen attempt,
    # so by the third beat the first two attempts have posted whatever they would.
    beats = threading.Semaphore(0)
    scanner.beat = beats.release
    for _ in range(3):
        assert beats.acquire(timeout=5), "the driver stopped retrying"
    assert events.all() == []
    assert not scanner.connected
    sim.plug()
    assert events.next() == DeviceRecovered("scanner")
    assert sim.wait_opened(3)
    sim.scan(ITEM)
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_a_scanner_missing_at_start_is_a_fault_until_it_is_plugged_in() -> None:
    events = Events()
    with SimulatedScanner() as sim:
        sim.unplug()
        with BarcodeScanner(sim.port, events.post, reconnect_initial_s=0.02, reconnect_max_s=0.1):
            assert isinstance(events.next(), DeviceFault)
            sim.plug()
            assert events.next() == DeviceRecovered("scanner")
            assert sim.wait_opened(3)
            sim.scan(ITEM)
            assert events.next() == BarcodeRead(ITEM, "desk")


def test_close_is_idempotent_and_releases_the_port() -> None:
    events = Events()
    with SimulatedScanner() as sim:
        scanner = BarcodeScanner(sim.port, events.post).start()
        assert scanner.wait_connected(3)
        scanner.close()
        scanner.close()
        assert not scanner.connected


def test_self_test_reads_back_a_test_scan_without_posting_it(desk) -> None:
    sim, scanner, events = desk
    assert [r.ok for r in scanner.diagnose(sim.scan)] == [True]
    sim.scan(ITEM)  # the marker: a posted test scan would have come before it
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_self_test_without_readback_hook_checks_the_port_opens(desk) -> None:
    _sim, scanner, _events = desk
    assert [(r.device, r.ok) for r in scanner.diagnose()] == [("scanner", True)]


def test_self_test_of_a_silent_scanner_says_no_readback(desk) -> None:
    _sim, scanner, _events = desk
    [result] = scanner.diagnose(lambda code: None, readback_timeout_s=0.3)
    assert (result.ok, result.code) == (False, "scanner-no-readback")


def test_self_test_of_an_unplugged_scanner_says_unplugged(desk) -> None:
    sim, scanner, events = desk
    sim.unplug()
    assert isinstance(events.next(), DeviceFault)
    [result] = scanner.diagnose(sim.scan, readback_timeout_s=0.2)
    assert (result.ok, result.code) == (False, "scanner-unplugged")
    assert result.hint


def test_self_test_works_on_a_scanner_that_is_not_running() -> None:
    with SimulatedScanner() as sim:
        scanner = BarcodeScanner(sim.port, Events().post)
        assert [r.code for r in scanner.diagnose(sim.scan)] == ["ok"]
        sim.unplug()
        assert [r.code for r in scanner.diagnose(sim.scan)] == ["scanner-unplugged"]


# -- LineFramer, pure ------------------------------------------------------------------

barcode_texts = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=48
)


@given(
    st.lists(barcode_texts, min_size=1, max_size=20),
    st.sampled_from(["CR", "LF", "CRLF"]),
    st.data(),
)
def test_any_split_of_a_valid_stream_yields_the_same_lines(
    texts: list[str], suffix: Suffix, data: st.DataObject
) -> None:
    stream = b"".join(t.encode() + SUFFIX_BYTES[suffix] for t in texts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    framer = LineFramer(suffix, 48)
    frames: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += framer.feed(stream[start:end])
    assert [f.text for f in frames] == texts
    assert all(f.ok for f in frames)
    assert framer.pending == 0


@given(st.binary(max_size=200))
def test_framer_never_crashes_and_never_passes_unprintable_text(data: bytes) -> None:
    framer = LineFramer("CR", 48)
    for frame in framer.feed(data) + framer.flush():
        if frame.ok:
            assert frame.text.isprintable() and frame.text.isascii()
            assert 0 < len(frame.text) <= 48
        else:
            assert frame.reason in ("non-printable", "overlong")


def test_framer_ignores_empty_lines_and_trims_spaces() -> None:
    assert LineFramer("CR").feed(b"\r\r\n  \r 123 \r") == [Frame("123", 5)]


def test_framer_refuses_an_unknown_suffix() -> None:
    with pytest.raises(ValueError):
        LineFramer("TAB")  # type: ignore[arg-type]
