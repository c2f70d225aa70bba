"""The card reader poller: events a tap, a lingering card, a removal and a dying board cause."""

from __future__ import annotations

import threading

import pytest

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
from hal_sim.cards import VirtualCard, library_card
from hal_sim.gpio import SimPinFactory
from hal_sim.mfrc522_chip import EmulatedMFRC522

NUMBER = "0110000012345"
TEXT = NUMBER.encode().ljust(48)


class Harness:
    """A poller on an emulated chip; with `reset_pin`, the chip's NRSTPD is wired to that
    pin of a simulated pin factory and the driver holds it through a reset line."""

    def __init__(self, reset_pin: int | None = None, **options: object) -> None:
        self.chip = EmulatedMFRC522()
        self.events: list[DeviceEvent] = []
        reset_line = None
        if reset_pin is not None:
            self.pins = SimPinFactory()
            self.nrstpd = self.pins.sim_pin(reset_pin)
            self.nrstpd.watch(self.chip.drive_nrstpd)
            reset_line = GpioResetLine(reset_pin, pin_factory=self.pins, startup_s=0)
        chip = MFRC522(self.chip, reset_line=reset_line, safety_s=0.05)
        self.reader = CardReader(chip, self.events.append, **options)  # type: ignore[arg-type]

    def polls(self, n: int = 1) -> list[DeviceEvent]:
        """Run `n` polls; return the events they posted."""
        start = len(self.events)
        for _ in range(n):
            self.reader.poll_once()
        return self.events[start:]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_card_arrival_posts_card_presented_with_its_number_blocks(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    assert h.polls() == [CardPresented(card.uid, TEXT)]


def test_card_staying_in_the_field_posts_nothing_more(h: Harness) -> None:
    h.chip.field.present(library_card(NUMBER))
    h.polls()
    assert h.polls(10) == []


def test_removal_is_posted_only_after_removal_polls_absent_polls(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.field.remove(card)
    assert h.polls() == []
    assert h.polls() == [CardRemoved(card.uid)]
    assert h.polls(3) == []


def test_a_card_lifted_for_one_poll_is_not_a_new_tap(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.field.remove(card)
    h.polls()
    h.chip.field.present(card)
    assert h.polls(3) == []


def test_removal_polls_option_sets_the_debounce() -> None:
    h = Harness(removal_polls=4)
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.field.remove(card)
    assert h.polls(3) == []
    assert h.polls() == [CardRemoved(card.uid)]


def test_seven_byte_uid_card_is_presented(h: Harness) -> None:
    uid = bytes.fromhex("04A1B2C3D4E5F6")
    h.chip.field.present(library_card(NUMBER, uid=uid))
    assert h.polls() == [CardPresented(uid, TEXT)]


def test_swapping_cards_posts_removed_then_presented(h: Harness) -> None:
    first = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.field.remove(first)
    second = h.chip.field.present(library_card("0110000099999"))
    assert h.polls() == [
        CardRemoved(first.uid),
        CardPresented(second.uid, b"0110000099999".ljust(48)),
    ]


def test_two_cards_post_multiple_cards_once_and_no_card_presented(h: Harness) -> None:
    h.chip.field.present(library_card("1"))
    h.chip.field.present(library_card("2"))
    assert h.polls() == [MultipleCards(2)]
    assert h.polls(5) == []


def test_three_cards_are_counted(h: Harness) -> None:
    for number in ("1", "2", "3"):
        h.chip.field.present(library_card(number))
    assert h.polls() == [MultipleCards(3)]


def test_a_four_and_a_seven_byte_card_together_post_multiple_cards(h: Harness) -> None:
    h.chip.field.present(library_card("1"))
    h.chip.field.present(library_card("2", uid=bytes.fromhex("04A1B2C3D4E5F6")))
    assert h.polls(3) == [MultipleCards(2)]


def test_taking_one_of_two_cards_away_presents_the_other(h: Harness) -> None:
    a = h.chip.field.present(library_card("1"))
    b = h.chip.field.present(library_card("2"))
    h.polls(2)
    h.chip.field.remove(a)
    assert h.polls(3) == [CardPresented(b.uid, b"2".ljust(48))]


def test_a_second_card_joining_posts_multiple_cards_and_the_first_stays(h: Harness) -> None:
    a = h.chip.field.present(library_card("1"))
    h.polls()
    b = h.chip.field.present(library_card("2"))
    assert h.polls(3) == [MultipleCards(2)]
    h.chip.field.remove(b)
    assert h.polls(3) == []
    assert h.reader.present_uid == a.uid


def test_card_with_a_key_we_do_not_have_is_presented_without_data(h: Harness) -> None:
    card = VirtualCard.blank(bytes.fromhex("11223344"), key_a=bytes.fromhex("A0A1A2A3A4A5"))
    h.chip.field.present(card)
    assert h.polls() == [CardPresented(card.uid, b"")]
    assert h.polls(3) == []


def test_one_corrupted_read_is_retried_on_the_next_poll(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    h.reader.poll_once()  # initialise
    h.chip.field.remove(card)
    h.polls(2)
    h.chip.field.present(card)
    h.chip.inject_rx_error("crc")
    events = h.polls(2)
    assert events == [CardPresented(card.uid, TEXT)]


def test_hung_chip_posts_reader_silent_once_and_recovery_after_reinit(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.hang()
    fault = DeviceFault("card_reader", "reader-silent", FAULT_HINTS["reader-silent"])
    assert h.polls(4) == [fault]
    assert h.reader.faulted
    h.chip.recover()
    assert h.polls() == [DeviceRecovered("card_reader")]
    assert h.polls(3) == []  # the same card is still there: no second tap
    assert h.reader.present_uid == card.uid


def test_chip_reset_by_a_glitch_is_reinitialised_without_a_fault(h: Harness) -> None:
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.recover()  # registers back at reset values, antenna off
    assert h.polls(3) == []
    h.chip.field.remove(card)
    assert h.polls(2) == [CardRemoved(card.uid)]


def test_reader_dead_from_the_start_posts_a_fault_on_the_first_poll(h: Harness) -> None:
    h.chip.hang()
    events = h.polls(2)
    assert [type(e) for e in events] == [DeviceFault]


def test_first_initialisation_hard_resets_the_chip_through_its_reset_line() -> None:
    h = Harness(reset_pin=25)
    assert h.polls() == []
    assert [s.state for s in h.nrstpd.states] == [False, True, False, True]  # open, pulse
    assert h.chip.hard_resets == 1


def test_a_hung_chip_is_revived_by_a_hard_reset_without_a_fault_or_a_second_tap() -> None:
    h = Harness(reset_pin=25)
    card = h.chip.field.present(library_card(NUMBER))
    assert h.polls() == [CardPresented(card.uid, TEXT)]
    h.chip.hang()
    assert h.polls(4) == []
    assert not h.chip.hung and not h.reader.faulted
    assert h.chip.hard_resets == 2
    assert h.reader.present_uid == card.uid


def test_reinitialising_after_other_chip_errors_is_a_soft_reset_only() -> None:
    h = Harness(reset_pin=25, reinit_after_failures=1)
    card = h.chip.field.present(library_card(NUMBER))
    h.polls()
    h.chip.field.remove(card)
    h.chip.field.present(card)  # back in IDLE: read again as a new arrival
    h.chip.inject_rx_error("parity")
    h.polls()
    assert h.chip.hard_resets == 1


def test_a_reader_off_its_cable_stays_faulted_despite_hard_resets() -> None:
    h = Harness(reset_pin=25)
    h.polls()
    h.chip.unplug()
    fault = DeviceFault("card_reader", "reader-silent", FAULT_HINTS["reader-silent"])
    assert h.polls(3) == [fault]
    assert h.chip.hard_resets >= 3
    h.chip.plug()
    assert h.polls() == [DeviceRecovered("card_reader")]


def test_diagnose_hard_resets_a_hung_chip_and_passes() -> None:
    h = Harness(reset_pin=25)
    h.polls()
    h.chip.hang()
    results = h.reader.diagnose()
    assert all(r.ok for r in results), results


def test_diagnose_passes_on_a_healthy_reader_without_a_card(h: Harness) -> None:
    results = h.reader.diagnose()
    assert all(r.ok for r in results)
    assert [r.device for r in results] == ["card_reader"] * 3
    assert "0x92" in results[0].detail
    assert "no test card" in results[2].detail


def test_diagnose_reads_a_test_card(h: Harness) -> None:
    h.chip.field.present(library_card(NUMBER))
    results = h.reader.diagnose()
    assert all(r.ok for r in results)
    assert "read" in results[-1].detail


def test_diagnose_reports_reader_silent_on_a_hung_chip(h: Harness) -> None:
    h.chip.hang()
    results = h.reader.diagnose()
    assert [(r.ok, r.code) for r in results] == [(False, "reader-silent")]
    assert results[0].hint == FAULT_HINTS["reader-silent"]


def test_diagnose_reports_reader_antenna_when_the_drivers_stay_off(h: Harness) -> None:
    h.polls()
    h.chip.overheat()
    results = h.reader.diagnose()
    assert (results[-1].ok, results[-1].code) == (False, "reader-antenna")
    assert "overheating" in results[-1].detail


def test_diagnose_reports_card_read_failed_for_an_unreadable_test_card(h: Harness) -> None:
    h.polls()
    h.chip.field.present(VirtualCard.blank(bytes.fromhex("11223344"), key_a=bytes(6)))
    results = h.reader.diagnose()
    assert (results[-1].ok, results[-1].code) == (False, "reader-card-read-failed")


def test_background_polling_posts_events_and_close_is_idempotent() -> None:
    chip = EmulatedMFRC522()
    seen = threading.Event()
    events: list[DeviceEvent] = []

    def post(event: DeviceEvent) -> None:
        events.append(event)
        seen.set()

    card = chip.field.present(library_card(NUMBER))
    with CardReader(MFRC522(chip), post, interval_s=0.005) as reader:
        reader.start()
        assert seen.wait(5.0)
        reader.close()
        reader.close()
    assert events[0] == CardPresented(card.uid, TEXT)
    assert not chip.antenna_on
