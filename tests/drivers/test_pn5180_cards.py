"""The card poller on both reader chips: the same taps, removals, collisions, foreign
keys, 7-byte UIDs and dying boards give the same events on an emulated MFRC522 and an
emulated PN5180; then what only the PN5180 does (its frames, BUSY, RST, TIMER1)."""

from __future__ import annotations

import threading

import pytest

from drivers.card_errors import AuthError
from drivers.card_reader import CardReader
from drivers.diagnostics import FAULT_HINTS
from drivers.events import (
    CardPresented,
    CardRemoved,
    DeviceEvent,
    DeviceFault,
    DeviceRecovered,
    MultipleCards,
)
from drivers.mfrc522 import MFRC522
from drivers.mfrc522_spi import GpioResetLine
from drivers.pn5180_cards import PN5180CardChip
from drivers.pn5180_host import SEND_DATA, PN5180Host
from hal_sim.cards import VirtualCard, library_card
from hal_sim.gpio import SimPinFactory
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.pn5180_chip import EmulatedPN5180

NUMBER = "0110000012345"
TEXT = NUMBER.encode().ljust(48)
SEVEN = bytes.fromhex("04A1B2C3D4E5F6")
FAULT = DeviceFault("card_reader", "reader-silent", FAULT_HINTS["reader-silent"])


class Reader:
    """A poller on an emulated chip of `kind`; with `reset_pin`, the chip's reset input
    (NRSTPD, RST) is wired to that pin of a simulated pin factory the driver holds."""

    def __init__(self, kind: str, reset_pin: int | None = None, **options: object) -> None:
        self.events: list[DeviceEvent] = []
        reset_line = None
        self.emu: EmulatedMFRC522 | EmulatedPN5180
        if kind == "mfrc522":
            self.emu = EmulatedMFRC522()
            watch = self.emu.drive_nrstpd
        else:
            self.emu = EmulatedPN5180(busy_reads=2)
            watch = self.emu.drive_reset
        if reset_pin is not None:
            self.pins = SimPinFactory()
            self.pins.sim_pin(reset_pin).watch(watch)
            reset_line = GpioResetLine(reset_pin, pin_factory=self.pins, startup_s=0)
        if isinstance(self.emu, EmulatedMFRC522):
            chip: MFRC522 | PN5180CardChip = MFRC522(self.emu, reset_line=reset_line, safety_s=0.02)
        else:
            host = PN5180Host(self.emu, self.emu.busy, device="card_reader")
            chip = PN5180CardChip(host, reset_line=reset_line, safety_s=0.02)
        self.chip = chip
        self.reader = CardReader(chip, self.events.append, **options)  # type: ignore[arg-type]
        self.field = self.emu.field

    def polls(self, n: int = 1) -> list[DeviceEvent]:
        start = len(self.events)
        for _ in range(n):
            self.reader.poll_once()
        return self.events[start:]


@pytest.fixture(params=["mfrc522", "pn5180"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def r(kind: str) -> Reader:
    return Reader(kind)


# ---- the same behaviour on both chips ----


def test_one_tap_is_one_card_presented_with_its_blocks(r: Reader) -> None:
    card = r.field.present(library_card(NUMBER))
    assert r.polls() == [CardPresented(card.uid, TEXT)]
    assert r.polls(5) == []


def test_removal_is_posted_after_the_debounce(r: Reader) -> None:
    card = r.field.present(library_card(NUMBER))
    r.polls()
    r.field.remove(card)
    assert r.polls() == []
    assert r.polls() == [CardRemoved(card.uid)]


def test_two_cards_are_multiple_cards_and_no_card_is_presented(r: Reader) -> None:
    r.field.present(library_card("1"))
    r.field.present(library_card("2"))
    assert r.polls(4) == [MultipleCards(2)]


def test_three_cards_with_a_seven_byte_one_are_counted(r: Reader) -> None:
    r.field.present(library_card("1"))
    r.field.present(library_card("2"))
    r.field.present(library_card("3", uid=SEVEN))
    assert r.polls(2) == [MultipleCards(3)]


def test_a_card_of_another_key_is_presented_without_data(r: Reader) -> None:
    card = r.field.present(VirtualCard.blank(bytes.fromhex("11223344"), key_a=bytes.fromhex("A0A1A2A3A4A5")))
    assert r.polls() == [CardPresented(card.uid, b"")]
    assert r.polls(3) == []
    assert not r.emu.crypto1_on


def test_a_seven_byte_uid_card_is_presented(r: Reader) -> None:
    r.field.present(library_card(NUMBER, uid=SEVEN))
    assert r.polls() == [CardPresented(SEVEN, TEXT)]


def test_crypto1_is_off_after_every_read(r: Reader) -> None:
    r.field.present(library_card(NUMBER))
    r.polls()
    assert not r.emu.crypto1_on


def test_an_unplugged_reader_is_one_fault_and_plugging_it_back_recovers(r: Reader) -> None:
    card = r.field.present(library_card(NUMBER))
    r.polls()
    r.emu.unplug()
    assert r.polls(3) == [FAULT]
    assert r.reader.faulted
    r.emu.plug()
    assert r.polls() == [DeviceRecovered("card_reader")]
    assert r.polls(3) == []  # the same card is still there: no second tap
    assert r.reader.present_uid == card.uid


def test_a_reader_dead_from_the_start_is_a_fault_on_the_first_poll(r: Reader) -> None:
    r.emu.unplug()
    assert r.polls(2) == [FAULT]


def test_the_first_initialisation_hard_resets_the_chip(kind: str) -> None:
    r = Reader(kind, reset_pin=24)
    assert r.polls() == []
    assert r.emu.hard_resets == 1


def test_diagnose_reads_a_test_card(r: Reader) -> None:
    r.field.present(library_card(NUMBER))
    results = r.reader.diagnose()
    assert [res.ok for res in results] == [True, True, True], results
    assert "read" in results[-1].detail


def test_diagnose_names_an_overheated_antenna(r: Reader) -> None:
    r.polls()
    r.emu.overheat()
    results = r.reader.diagnose()
    assert (results[-1].ok, results[-1].code) == (False, "reader-antenna")
    assert "overheating" in results[-1].detail


def test_background_polling_posts_and_close_switches_the_antenna_off(kind: str) -> None:
    r = Reader(kind, interval_s=0.005)
    seen = threading.Event()
    r.reader.post = lambda event: (r.events.append(event), seen.set())  # type: ignore[assignment]
    card = r.field.present(library_card(NUMBER))
    with r.reader:
        r.reader.start()
        assert seen.wait(5.0)
    assert r.events[0] == CardPresented(card.uid, TEXT)
    assert not r.emu.antenna_on


# ---- what only the PN5180 does ----


class Recording:
    """The SEND_DATA frames the host sends the emulated PN5180 (instruction bytes)."""

    def __init__(self, emu: EmulatedPN5180) -> None:
        self.sent: list[bytes] = []
        real = emu.xfer2

        def xfer2(data: list[int]) -> list[int]:
            if data and data[0] == SEND_DATA:
                self.sent.append(bytes(data))
            return real(data)

        emu.xfer2 = xfer2  # type: ignore[method-assign]


def test_wupa_is_a_seven_bit_short_frame_and_select_goes_with_the_chips_crc() -> None:
    r = Reader("pn5180")
    card = r.field.present(library_card(NUMBER))
    assert isinstance(r.emu, EmulatedPN5180)
    frames = Recording(r.emu)
    r.polls()
    assert frames.sent[0] == bytes([SEND_DATA, 7, 0x52])  # WUPA, 7 valid bits
    assert frames.sent[1] == bytes([SEND_DATA, 0, 0x93, 0x20])  # anticollision, level 1
    # SELECT: the UID and BCC, no CRC in the frame: the chip appends it.
    assert frames.sent[2][:4] == bytes([SEND_DATA, 0, 0x93, 0x70]) and len(frames.sent[2]) == 9
    assert frames.sent[2][4:8] == card.uid
    assert bytes([SEND_DATA, 0, 0x30, 8]) in frames.sent  # READ block 8, in clear to the chip


def test_an_empty_field_poll_costs_a_handful_of_spi_frames() -> None:
    r = Reader("pn5180")
    r.polls()
    assert isinstance(r.emu, EmulatedPN5180)
    before = r.emu.transfers
    r.polls()
    assert r.emu.transfers - before <= 8
    assert r.emu.violations == 0  # BUSY honoured before and after every frame


def test_busy_stuck_high_is_a_silent_reader() -> None:
    r = Reader("pn5180")
    r.polls()
    assert isinstance(r.emu, EmulatedPN5180)
    r.emu.stick_busy()
    assert r.polls(2) == [FAULT]


def test_a_chip_rebooted_by_a_glitch_is_reinitialised_without_a_fault_or_a_second_tap() -> None:
    r = Reader("pn5180")
    card = r.field.present(library_card(NUMBER))
    r.polls()
    assert isinstance(r.emu, EmulatedPN5180)
    r.emu.drive_reset(False)
    r.emu.drive_reset(True)  # registers at reset values: no RF config, no TIMER1
    assert r.polls(4) == []
    assert r.reader.present_uid == card.uid
    r.field.remove(card)
    assert r.polls(2) == [CardRemoved(card.uid)]


def test_a_card_answering_a_wrong_key_is_refused_by_the_chips_handshake() -> None:
    r = Reader("pn5180")
    assert isinstance(r.chip, PN5180CardChip)
    r.polls()
    card = r.field.present(VirtualCard.blank(bytes.fromhex("11223344"), key_a=bytes(6)))
    r.chip.wakeup_a()
    selected = r.chip.select()
    with pytest.raises(AuthError, match="refused"):
        r.chip.authenticate(11, b"\xff" * 6, selected.uid)
    assert selected.uid == card.uid and not r.chip.crypto1_on()
