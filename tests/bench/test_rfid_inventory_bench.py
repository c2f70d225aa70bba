"""The `make bench` figures for reading a stack of book tags on the PN5180 pad: the real
driver against the emulator yields the counts the rows are built from, and the air-time
model gives the ISO 15693 standard's time for a known exchange. Counts only, no timings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is run from the checkout (`make bench`), not installed
    sys.path.insert(0, str(ROOT))

from bench import rfid_inventory  # noqa: E402
from drivers.iso15693 import FIELD_OFF_S, ISO15693Reader  # noqa: E402
from drivers.pn5180_host import PN5180Host  # noqa: E402
from hal_sim.pn5180_chip import EmulatedPN5180  # noqa: E402


@pytest.fixture(scope="module")
def raw() -> dict:
    return rfid_inventory.measure(stacks=(1, 5), rounds=2)


def test_every_tag_is_read_at_once_and_alone(raw) -> None:
    for part in ("inventory", "stack_read"):
        for n, got in raw[part].items():
            assert got["stack"]["tags_seen"] == got["singles_summed"]["tags_seen"] == int(n)
    one = raw["inventory"]["1"]
    assert one["stack"]["spi_frames"] == one["singles_summed"]["spi_frames"]  # one tag: the same work
    five = raw["inventory"]["5"]
    assert five["stack"]["air_exchanges"] > 16  # a 16-slot round at least: the probe collided


def test_reading_blocks_adds_one_addressed_read_per_tag(raw) -> None:
    for n in ("1", "5"):
        inventory, read = raw["inventory"][n]["stack"], raw["stack_read"][n]["stack"]
        assert read["air_exchanges"] == inventory["air_exchanges"] + int(n)
        assert read["spi_frames"] > inventory["spi_frames"]


def test_modelled_time_is_spi_plus_air_plus_field_gap(raw) -> None:
    gap_ms = FIELD_OFF_S * 1000
    for part in ("inventory", "stack_read"):
        for n, got in raw[part].items():
            for cost in got.values():
                parts = cost["spi_ms"] + cost["air_ms"] + cost["field_off_ms"]
                assert cost["modelled_ms"] == pytest.approx(parts, abs=0.01)
            # every inventory turns the field off for the driver's full gap first
            assert got["stack"]["field_off_ms"] == pytest.approx(gap_ms)
            assert got["singles_summed"]["field_off_ms"] == pytest.approx(int(n) * gap_ms)


def test_one_tag_inventory_air_time_is_the_standards() -> None:
    """A one-slot inventory: 3 bytes + CRC out, flags, DSFID, UID + CRC back (ISO 15693-2/-3)."""
    fc = 13.56e6
    request = 75.52e-6 + 37.76e-6 + 5 * 4096 / fc
    answer = 4352 / fc + 151.04e-6 + 12 * 4096 / fc + 151.04e-6 + 4192 / fc
    got = rfid_inventory.measure(stacks=(1,), rounds=1)["inventory"]["1"]["stack"]["air_ms"]
    assert got == pytest.approx((request + answer) * 1000, abs=0.001)


def test_empty_poll_frames_match_a_bare_driver() -> None:
    chip = EmulatedPN5180()
    reader = ISO15693Reader(PN5180Host(chip, chip.busy), sleep=lambda s: None)
    reader.init()
    reader.inventory()
    before = chip.transfers
    reader.inventory()
    empty = rfid_inventory.empty_poll()
    assert empty["spi_frames"] == chip.transfers - before
    assert empty["tags_seen"] == 0 and empty["air_exchanges"] == 1


def test_rows_name_each_stack_the_target_and_the_empty_poll(raw) -> None:
    rows = rfid_inventory.rows(raw)
    figures = [r.figure for r in rows]
    assert len(rows) == 3 * 2 + 2
    assert figures[-1] == "RFID pad (PN5180): SPI transfers per empty-pad poll"
    assert rows[-1].value == str(raw["empty_poll"]["spi_frames"])
    target = rows[-2]
    shown = raw["stack_shown"]
    assert shown["books"] == 5 and shown["core_ms"] > 0 and shown["render_ms"] > 0
    five = raw["stack_read_inventory_read"]["5"]["stack"]["modelled_ms"] + shown["core_ms"] + shown["render_ms"]
    assert ("(ok)" if five <= 100 else "(over)") in target.figure
    assert target.ratio == pytest.approx(five / 100)
    assert all(r.ratio is not None for r in rows[:-1])


def test_inventory_read_reads_every_tag_with_fewer_exchanges(raw) -> None:
    """INVENTORY READ (plus the plain sweep) beside inventory + READ MULTIPLE: same tags,
    less modelled air once a stack needs a slot round (a Stay Quiet per tag for the sweep
    instead of a READ MULTIPLE); one tag alone: the old path, frame for frame."""
    for n in ("1", "5"):
        new, old = raw["stack_read_inventory_read"][n]["stack"], raw["stack_read"][n]["stack"]
        assert new["tags_seen"] == old["tags_seen"] == int(n)
    one_new, one_old = raw["stack_read_inventory_read"]["1"]["stack"], raw["stack_read"]["1"]["stack"]
    assert one_new["spi_frames"] == one_old["spi_frames"]
    five_new, five_old = raw["stack_read_inventory_read"]["5"]["stack"], raw["stack_read"]["5"]["stack"]
    assert five_new["air_exchanges"] == five_old["air_exchanges"] + 1  # + the sweep's probe
    assert five_new["air_ms"] < five_old["air_ms"]
    nxp_only = raw["stack_read_nxp_only"]["5"]["stack"]
    assert nxp_only["tags_seen"] == 5 and nxp_only["air_exchanges"] == five_old["air_exchanges"] - 5
