"""Our MFRC522 driver against the register-level chip emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.mfrc522 import MFRC522
from drivers.mfrc522_errors import (
    AuthError,
    ChipNotResponding,
    CollisionError,
    CRCError,
    NoCard,
    ProtocolError,
    SpiUnavailable,
)
from drivers.mfrc522_spi import GpioResetLine, open_reset_line, open_spi
from hal_sim.cards import (
    CardState,
    VirtualCard,
    cascade_levels,
    crc_a,
    encode_access_bits,
    library_card,
)
from hal_sim.gpio import SimPinFactory
from hal_sim.mfrc522_chip import EmulatedMFRC522

KEY = b"\xff" * 6


@pytest.fixture
def chip() -> EmulatedMFRC522:
    return EmulatedMFRC522()


@pytest.fixture
def reader(chip: EmulatedMFRC522) -> MFRC522:
    driver = MFRC522(chip, safety_s=0.05)
    driver.init()
    return driver


def uid_strategy() -> st.SearchStrategy[bytes]:
    first = st.integers(0, 255).filter(lambda b: b != 0x88)
    rest = st.sampled_from([3, 6]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    return st.tuples(first, rest).map(lambda t: bytes([t[0]]) + t[1])


def test_init_configures_timer_ask_crc_preset_and_antenna(chip: EmulatedMFRC522) -> None:
    version = MFRC522(chip).init()
    assert version == 0x92
    assert chip.peek(0x2A) & 0x80, "timer must start by itself (TAuto) so waits are bounded"
    assert chip.peek(0x15) == 0x40, "100 % ASK"
    assert chip.peek(0x11) & 0x03 == 0x01, "CRC preset 0x6363"
    assert chip.antenna_on


def test_version_0x91_chip_is_accepted() -> None:
    assert MFRC522(EmulatedMFRC522(version=0x91)).init() == 0x91


def test_empty_field_raises_no_card_after_a_handful_of_transfers(
    chip: EmulatedMFRC522, reader: MFRC522
) -> None:
    before = chip.transfers
    with pytest.raises(NoCard):
        reader.wakeup_a()
    assert chip.transfers - before < 40


def test_four_byte_uid_is_selected_with_sak(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = chip.field.present(library_card("0110000012345"))
    assert reader.wakeup_a() == b"\x04\x00"
    selected = reader.select()
    assert selected.uid == card.uid
    assert selected.sak == 0x08 and selected.is_mifare_classic
    assert card.state is CardState.ACTIVE


def test_seven_byte_uid_is_selected_over_two_cascade_levels(
    chip: EmulatedMFRC522, reader: MFRC522
) -> None:
    card = chip.field.present(VirtualCard.blank(bytes.fromhex("04A1B2C3D4E5F6")))
    assert reader.wakeup_a() == b"\x44\x00"
    selected = reader.select()
    assert selected.uid == bytes.fromhex("04A1B2C3D4E5F6")
    assert selected.sak == 0x08
    assert card.state is CardState.ACTIVE


def test_two_cards_raise_collision_unless_asked_to_resolve(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    a = chip.field.present(library_card("1"))
    b = chip.field.present(library_card("2"))
    reader.wakeup_a()
    with pytest.raises(CollisionError):
        reader.select()
    assert reader.count_cards() == 2
    selected = reader.select(resolve_collisions=True)
    assert selected.uid in (a.uid, b.uid)
    assert {a.state, b.state} == {CardState.ACTIVE, CardState.READY}


def test_count_cards_counts_three_cards(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    for number in ("10", "20", "30"):
        chip.field.present(library_card(number))
    reader.wakeup_a()
    assert reader.count_cards() == 3


def test_read_block_returns_the_card_number_text(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    reader.authenticate(11, KEY, card.uid)
    assert reader.crypto1_on()
    assert reader.read_block(8) == b"0110000012345".ljust(16)
    assert reader.read_block(9) == b" " * 16
    reader.halt()
    reader.stop_crypto1()
    assert not reader.crypto1_on()
    assert card.state is CardState.HALT


def test_wrong_key_raises_auth_error_and_crypto_stays_off(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    with pytest.raises(AuthError):
        reader.authenticate(11, bytes(6), card.uid)
    assert not reader.crypto1_on()
    assert card.state is CardState.IDLE


def test_read_without_authentication_is_refused(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    with pytest.raises(AuthError):
        reader.read_block(8)


def test_access_bits_that_forbid_reading_make_read_fail(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = library_card("0110000012345")
    locked = encode_access_bits([(1, 1, 1), (0, 0, 0), (0, 0, 0), (0, 0, 1)])
    card.set_trailer(2, key_a=KEY, access=locked, key_b=KEY)
    chip.field.present(card)
    reader.wakeup_a()
    reader.select()
    reader.authenticate(11, KEY, card.uid)
    assert reader.read_block(9) == b" " * 16
    with pytest.raises(AuthError):
        reader.read_block(8)


def test_seven_byte_card_authenticates_with_its_last_four_uid_bytes(
    chip: EmulatedMFRC522, reader: MFRC522
) -> None:
    card = chip.field.present(library_card("0110000012345", uid=bytes.fromhex("04A1B2C3D4E5F6")))
    reader.wakeup_a()
    selected = reader.select()
    reader.authenticate(11, KEY, selected.uid)
    assert reader.read_block(8).startswith(b"0110000012345")
    assert card.uid == selected.uid


def test_write_block_is_read_back(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    reader.authenticate(11, KEY, card.uid)
    reader.write_block(9, b"written by test!")
    assert reader.read_block(9) == b"written by test!"
    assert card.block(9) == b"written by test!"


def test_crc_corrupted_in_flight_raises_crc_error(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    card = chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    reader.authenticate(11, KEY, card.uid)
    chip.inject_rx_error("crc")
    with pytest.raises(CRCError):
        reader.read_block(8)


def test_parity_error_raises_protocol_error(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    chip.field.present(library_card("0110000012345"))
    chip.inject_rx_error("parity")
    with pytest.raises(ProtocolError):
        reader.wakeup_a()


def test_halted_card_answers_wupa_but_not_reqa(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    chip.field.present(library_card("0110000012345"))
    reader.wakeup_a()
    reader.select()
    reader.halt()
    with pytest.raises(NoCard):
        reader.request_a()
    assert reader.wakeup_a() == b"\x04\x00"


def test_coprocessor_crc_matches_iso14443a_examples(reader: MFRC522) -> None:
    # ISO/IEC 14443-3 Annex B: 00 00 -> A0 1E, 12 34 -> 26 CF.
    assert reader.calculate_crc(b"\x00\x00") == b"\xa0\x1e"
    assert reader.calculate_crc(b"\x12\x34") == b"\x26\xcf"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=60))
def test_coprocessor_crc_equals_reference_crc_a(reader: MFRC522, data: bytes) -> None:
    assert reader.calculate_crc(data) == crc_a(data)


def test_hung_chip_raises_chip_not_responding_and_recovers_after_init(
    chip: EmulatedMFRC522, reader: MFRC522
) -> None:
    chip.field.present(library_card("0110000012345"))
    chip.hang()
    with pytest.raises(ChipNotResponding):
        reader.wakeup_a()
    with pytest.raises(ChipNotResponding) as info:
        reader.init()
    assert info.value.code == "reader-silent" and info.value.device == "card_reader"
    chip.recover()
    assert reader.init() == 0x92
    assert reader.wakeup_a() == b"\x04\x00"


def test_reset_line_drives_nrstpd_high_when_opened_and_pulses_it_low_for_a_hard_reset(
    chip: EmulatedMFRC522,
) -> None:
    pins = SimPinFactory()
    nrstpd = pins.sim_pin(25)
    nrstpd.watch(chip.drive_nrstpd)
    line = open_reset_line(25, pin_factory=pins)
    assert (nrstpd.function, nrstpd.state) == ("output", True)
    reader = MFRC522(chip, reset_line=line, safety_s=0.05)
    reader.init(hard_reset=True)
    assert [s.state for s in nrstpd.states] == [False, True, False, True]
    assert chip.hard_resets == 1
    line.close()
    line.close()


def test_a_hung_chip_ignores_the_soft_reset_and_is_revived_by_a_hard_reset(
    chip: EmulatedMFRC522,
) -> None:
    pins = SimPinFactory()
    pins.sim_pin(25).watch(chip.drive_nrstpd)
    reader = MFRC522(chip, reset_line=GpioResetLine(25, pin_factory=pins, startup_s=0), safety_s=0.05)
    reader.init()
    chip.field.present(library_card("0110000012345"))
    chip.hang()
    with pytest.raises(ChipNotResponding):
        reader.init()
    assert reader.init(hard_reset=True) == 0x92
    assert reader.wakeup_a() == b"\x04\x00"


def test_an_unplugged_reader_is_not_revived_by_a_hard_reset(chip: EmulatedMFRC522) -> None:
    pins = SimPinFactory()
    pins.sim_pin(25).watch(chip.drive_nrstpd)
    reader = MFRC522(chip, reset_line=GpioResetLine(25, pin_factory=pins, startup_s=0), safety_s=0.05)
    chip.unplug()
    with pytest.raises(ChipNotResponding):
        reader.init(hard_reset=True)
    chip.plug()
    assert reader.init() == 0x92


def test_without_a_reset_line_a_hard_reset_falls_back_to_the_soft_one(chip: EmulatedMFRC522) -> None:
    reader = MFRC522(chip)
    assert reader.hard_reset() is False
    assert reader.init(hard_reset=True) == 0x92


def test_chip_that_lost_its_timer_setup_is_caught_by_the_safety_limit(
    chip: EmulatedMFRC522, reader: MFRC522
) -> None:
    chip.recover()  # a brown-out: registers back at reset values, timer not in TAuto
    with pytest.raises(ChipNotResponding):
        reader.wakeup_a()


def test_antenna_off_means_no_card_and_gain_is_settable(chip: EmulatedMFRC522, reader: MFRC522) -> None:
    chip.field.present(library_card("0110000012345"))
    reader.antenna_off()
    assert not reader.antenna_is_on()
    with pytest.raises(NoCard):
        reader.wakeup_a()
    reader.antenna_on()
    reader.set_antenna_gain(7)
    assert reader.antenna_gain_db() == 48
    assert reader.wakeup_a() == b"\x04\x00"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uid=uid_strategy())
def test_random_uids_round_trip_through_anticollision_and_select(uid: bytes) -> None:
    chip = EmulatedMFRC522()
    reader = MFRC522(chip)
    reader.init()
    chip.field.present(VirtualCard.blank(uid))
    reader.wakeup_a()
    assert reader.select().uid == uid


@settings(max_examples=40, deadline=None)
@given(uids=st.lists(uid_strategy(), min_size=2, max_size=4, unique_by=lambda u: cascade_levels(u)[0]))
def test_random_card_sets_resolve_to_one_of_them_and_are_counted(uids: list[bytes]) -> None:
    chip = EmulatedMFRC522()
    reader = MFRC522(chip)
    reader.init()
    for uid in uids:
        chip.field.present(VirtualCard.blank(uid))
    reader.wakeup_a()
    assert reader.count_cards() == len(uids)
    assert reader.select(resolve_collisions=True).uid in uids


def test_module_imports_without_spidev_or_gpio() -> None:
    code = (
        "import sys; import drivers.mfrc522, drivers.mfrc522_spi, drivers.card_reader;"
        "assert not {'spidev', 'RPi', 'RPi.GPIO', 'lgpio'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_open_spi_without_spidev_raises_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spidev", None)
    with pytest.raises(SpiUnavailable) as info:
        open_spi()
    assert info.value.code == "reader-silent"
