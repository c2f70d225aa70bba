"""One life cycle for every threaded driver (drivers.device_thread.ThreadedDevice):
start once, close once (releasing the hardware even when never started), a bounded
join, and the context manager, shown on the real drivers where they can show it."""

from __future__ import annotations

import logging
import threading

import pytest

from drivers.card_reader import CardReader
from drivers.chute import Chute
from drivers.device_thread import DeviceClosed, ThreadedDevice
from drivers.events import CardPresented, DeviceEvent
from drivers.hid_scanner import HidScanner
from drivers.mfrc522 import MFRC522
from drivers.receipt_printer import ReceiptPrinter
from drivers.scanner import BarcodeScanner
from hal_sim.cards import library_card
from hal_sim.mfrc522_chip import EmulatedMFRC522
from tests.drivers.device_events import Events

NUMBER = "0110000012345"
LIFE_CYCLE = ("start", "close", "__enter__", "__exit__")


@pytest.mark.parametrize("driver", [CardReader, BarcodeScanner, HidScanner, ReceiptPrinter, Chute])
def test_every_threaded_driver_has_the_one_life_cycle_and_no_copy_of_its_own(driver: type) -> None:
    assert issubclass(driver, ThreadedDevice)
    own = [name for name in LIFE_CYCLE if name in vars(driver)]
    assert own == [], f"{driver.__name__} writes its own {own}"


def reader_on(chip: EmulatedMFRC522, post: object) -> CardReader:
    return CardReader(MFRC522(chip), post, interval_s=0.005)  # type: ignore[arg-type]


def test_entering_a_card_reader_polls_on_its_named_thread_and_leaving_stops_it() -> None:
    chip = EmulatedMFRC522()
    card = chip.field.present(library_card(NUMBER))
    events: list[DeviceEvent] = []
    seen = threading.Event()

    def post(event: DeviceEvent) -> None:
        events.append(event)
        seen.set()

    with reader_on(chip, post) as reader:
        assert reader.running
        thread = reader._thread
        assert thread is not None and thread.name == "card-reader" and thread.daemon
        assert seen.wait(5)
    assert reader.closed and not reader.running
    assert not thread.is_alive()
    assert events[0] == CardPresented(card.uid, NUMBER.encode().ljust(48))


def test_a_closed_device_refuses_to_start_again_saying_so() -> None:
    reader = reader_on(EmulatedMFRC522(), [].append)
    reader.close()
    with pytest.raises(DeviceClosed, match="card-reader is closed"):
        reader.start()
    assert isinstance(DeviceClosed("x"), RuntimeError)  # callers catching RuntimeError still do


def test_closing_a_reader_that_never_polled_on_a_thread_still_switches_the_antenna_off() -> None:
    chip = EmulatedMFRC522()
    reader = reader_on(chip, [].append)
    reader.poll_once()  # initialises the chip: antenna on
    assert chip.antenna_on
    reader.close()
    reader.close()
    assert not chip.antenna_on


class _Probe(ThreadedDevice):
    """A device whose thread does what the test asks, counting releases."""

    def __init__(self, body: str, join_timeout_s: float = 5.0) -> None:
        super().__init__(thread_name=f"probe-{body}", join_timeout_s=join_timeout_s)
        self.body = body
        self.released = 0
        self.ran = threading.Event()
        self.let_go = threading.Event()

    def _run(self) -> None:
        self.ran.set()
        if self.body == "closes-itself":
            self.let_go.wait(10)
            self.close()
        elif self.body == "ignores-stop":
            self.let_go.wait(10)
        else:
            self._stop.wait()

    def _release(self) -> None:
        self.released += 1


def test_a_device_closed_from_its_own_thread_releases_once_and_does_not_wait_for_itself() -> None:
    probe = _Probe("closes-itself")
    probe.start()
    thread = probe._thread
    assert thread is not None
    probe.let_go.set()
    thread.join(5)
    assert not thread.is_alive()  # it closed itself without joining itself
    probe.close()
    assert probe.closed and probe.released == 1


def test_a_thread_that_will_not_stop_is_left_to_the_process_with_a_warning(caplog) -> None:
    probe = _Probe("ignores-stop", join_timeout_s=0.2).start()
    assert probe.ran.wait(5)
    with caplog.at_level(logging.WARNING, logger="drivers.device_thread"):
        probe.close()
    assert "probe-ignores-stop did not stop within 0.2 s" in caplog.text
    assert probe.released == 1  # the hardware is released anyway
    probe.let_go.set()


def test_concurrent_closes_release_the_hardware_exactly_once() -> None:
    probe = _Probe("waits").start()
    assert probe.ran.wait(5)
    closers = [threading.Thread(target=probe.close) for _ in range(8)]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(5)
    assert probe.released == 1


class _GatedConnection:
    def write(self, data: bytes) -> None:
        pass

    def read(self, n: int, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        pass


class _GatedLink:
    """Opens at once for the start-up check, then holds the first job until `gate`."""

    def __init__(self) -> None:
        self.opens = 0
        self.holding = threading.Event()
        self.gate = threading.Event()

    def open(self) -> _GatedConnection:
        self.opens += 1
        if self.opens == 2:
            self.holding.set()
            self.gate.wait(10)
        return _GatedConnection()


def test_a_printer_closed_with_a_full_queue_prints_what_waits_then_its_thread_ends() -> None:
    link = _GatedLink()
    printer = ReceiptPrinter(link, Events().post, status_query=False, max_waiting=2).start()
    printer.print_receipt(["one"])
    assert link.holding.wait(5)  # the thread is printing "one"
    printer.print_receipt(["two"])
    printer.print_receipt(["three"])  # the queue is full now: no room for the end marker
    thread = printer._thread
    assert thread is not None
    closer = threading.Thread(target=printer.close)
    closer.start()
    link.gate.set()
    closer.join(15)
    assert not closer.is_alive()
    thread.join(5)
    assert not thread.is_alive()
    assert printer.printed == 3
