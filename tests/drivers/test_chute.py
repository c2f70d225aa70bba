"""The return chute's beams and outputs: real gpiozero devices on simulated pins."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.chute import Chute
from drivers.events import (
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksTooClose,
    ChuteCleared,
    ChuteJammed,
)
from drivers.outputs import Outputs
from hal_sim.chute_sim import SimulatedChute
from hal_sim.gpio import SimPinFactory
from tests.drivers.device_events import Events

ENTRY, EXIT = 17, 27




@pytest.fixture
def factory() -> SimPinFactory:
    return SimPinFactory()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def chute(factory: SimPinFactory, events: Events) -> Iterator[Chute]:
    with Chute(
        events.post,
        entry_pin=ENTRY,
        exit_pin=EXIT,
        pin_factory=factory,
        jam_after_s=0.4,
        min_gap_s=0.05,
        pull_back_after_s=0.15,
    ) as chute:
        yield chute


@pytest.fixture
def world(factory: SimPinFactory, chute: Chute) -> SimulatedChute:
    return SimulatedChute(factory, ENTRY, EXIT)


def then_only_the_next_book(world: SimulatedChute, events: Events) -> None:
    """Nothing more came of what went before: one more book is dropped and its two events
    are the next ones. The monitor posts in the order of the edges' timestamps, so
    anything still owed for earlier edges would come first: no quiet window to guess.
    Both must carry times from this drop (a stray pair could look the same)."""
    started = time.monotonic()
    world.drop()
    entered, passed = events.next(), events.next()
    assert isinstance(entered, BookEntered) and isinstance(passed, BookPassed), (entered, passed)
    assert entered.at >= started, "an earlier book's BookEntered came first"


def test_a_dropped_book_enters_and_passes_once_despite_bounce(world, events) -> None:
    world.drop(ms=40, bounce=True)
    entered, passed = events.next(), events.next()
    assert isinstance(entered, BookEntered)
    assert isinstance(passed, BookPassed)
    assert passed.at > entered.at
    assert passed.transit_ms > 0
    then_only_the_next_book(world, events)


def test_bounce_shorter_than_the_debounce_time_is_no_book(factory, world, events) -> None:
    # Driven by hand: six glitches of a few microseconds each on the entry pin.
    pin = factory.sim_pin(ENTRY)
    for _ in range(6):
        pin.drive_low()
        pin.drive_high()
    then_only_the_next_book(world, events)  # the glitches made nothing


def test_mock_pins_really_do_bounce(factory, world) -> None:
    # Proof that the debounce above is needed: the pin itself sees every toggle.
    pin = factory.sim_pin(ENTRY)
    pin.clear_states()
    world.drop()
    assert len(pin.states) > 3


def test_a_book_pulled_back_is_reported(world, events) -> None:
    world.pull_back(ms=60)
    assert events.kinds(2) == [BookEntered, BookPulledBack]
    then_only_the_next_book(world, events)


def test_two_books_dropped_together_are_too_close_and_both_pass(world, events) -> None:
    world.drop_two_close(gap_ms=50)
    seen = events.kinds(5)
    assert seen.count(BooksTooClose) == 1
    assert seen.count(BookEntered) == 2
    assert seen.count(BookPassed) == 2
    assert seen.index(BooksTooClose) < seen.index(BookPassed)
    then_only_the_next_book(world, events)


def test_a_second_book_within_the_minimum_gap_is_too_close(factory, events) -> None:
    with Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory, min_gap_s=5.0):
        world = SimulatedChute(factory, ENTRY, EXIT)
        world.drop()
        assert events.kinds(2) == [BookEntered, BookPassed]
        world.drop()
        assert events.kinds(3) == [BookEntered, BooksTooClose, BookPassed]


@pytest.mark.parametrize("beam", ["entry", "exit"])
def test_a_jam_is_reported_once_and_clearing_it_is_too(world, events, beam) -> None:
    world.jam(beam)
    first = events.next()
    if beam == "entry":
        assert isinstance(first, BookEntered)
        first = events.next()
    assert isinstance(first, ChuteJammed)
    assert first.beam == beam
    assert first.blocked_s > 0
    world.clear()
    assert events.next() == ChuteCleared()  # next: the jam was reported once
    then_only_the_next_book(world, events)  # the jammed book was taken out: it never passed


def test_n_drops_in_sequence_make_exactly_n_books_passed(factory, events) -> None:
    # No minimum gap: on a loaded machine the simulator's timeline can compress, and
    # this test is about never losing or doubling a book, not about the gap rule.
    with Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory, min_gap_s=0.0):
        world = SimulatedChute(factory, ENTRY, EXIT)
        drops = 25
        for _ in range(drops):
            world.drop(ms=30, fall_ms=20)
        seen = events.kinds(2 * drops)
        assert seen == [BookEntered, BookPassed] * drops
        then_only_the_next_book(world, events)


def test_a_late_monitor_loses_no_book(factory, events) -> None:
    # Edges are judged by their timestamps: a stack of books fed back to back while
    # the debouncer cannot keep up still counts every book once.
    with Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory, min_gap_s=0.0):
        world = SimulatedChute(factory, ENTRY, EXIT)
        world.feed(10, interval_ms=80, ms=30, fall_ms=20)
        assert events.kinds(20) == [BookEntered, BookPassed] * 10
        then_only_the_next_book(world, events)


def test_self_test_passes_when_both_beams_toggle(chute, world, events) -> None:
    assert [(r.device, r.ok) for r in chute.diagnose(world.exercise)] == [("chute", True)]
    assert [r.ok for r in chute.diagnose()] == [True]
    then_only_the_next_book(world, events)  # the test's hand in the beams is no returned book


@pytest.mark.parametrize("beam", ["entry", "exit"])
def test_self_test_finds_a_stuck_beam(chute, world, beam) -> None:
    world.stick(beam)
    [result] = chute.diagnose(world.exercise)
    assert (result.ok, result.code) == (False, "beam-stuck")
    assert beam in result.detail
    assert result.hint
    assert [r.code for r in chute.diagnose()] == ["beam-stuck"]
    world.repair(beam)
    assert [r.code for r in chute.diagnose(world.exercise)] == ["ok"]


def test_self_test_finds_a_dead_beam(chute, world) -> None:
    world.cut("exit")
    [result] = chute.diagnose(world.exercise)
    assert (result.ok, result.code) == (False, "beam-dead")
    assert "exit" in result.detail


def _until_the_driver_sees(chute: Chute, beam: str, *, broken: bool, timeout: float = 3.0) -> None:
    """Wait (bounded) until the driver's debounced level of `beam` is `broken`."""
    deadline = time.monotonic() + timeout
    while chute.beam_broken(beam) != broken:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, f"the driver never saw the {beam} beam {broken=}"
        time.sleep(0.002)


def test_a_glitch_is_no_jam_but_the_same_beam_blocked_longer_is(factory, events) -> None:
    """A glitch the driver really saw (the debounced level went broken) but shorter than
    the jam threshold is no jam; the same beam broken for longer is one, reported no
    sooner than the threshold. The jam's ChuteCleared is the marker that everything the
    glitch could have caused has been posted before it."""
    jam_after_s = 0.6
    world = SimulatedChute(factory, ENTRY, EXIT)
    with Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory,
               jam_after_s=jam_after_s) as chute:  # fmt: skip
        started = time.monotonic()
        world.stick("exit")  # dirt passing the lens: broken, no bounce
        _until_the_driver_sees(chute, "exit", broken=True)
        time.sleep(jam_after_s / 3)  # a glitch well past the debounce, short of a jam
        world.repair("exit")
        _until_the_driver_sees(chute, "exit", broken=False)  # else it is one long break
        glitch_s = time.monotonic() - started
        assert glitch_s < jam_after_s, f"machine too slow: the glitch lasted {glitch_s:.2f} s"
        jam_started = time.monotonic()
        world.jam("exit")
        jammed = events.next()
        noticed_after_s = time.monotonic() - jam_started
        world.clear()
        cleared = events.next()
    assert isinstance(jammed, ChuteJammed), jammed
    assert jammed.beam == "exit" and jammed.blocked_s >= jam_after_s
    assert noticed_after_s >= jam_after_s
    assert cleared == ChuteCleared()
    assert events.all() == []


def test_close_is_idempotent_and_frees_the_pins(factory, events) -> None:
    chute = Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory)
    chute.close()
    chute.close()
    with Chute(events.post, entry_pin=ENTRY, exit_pin=EXIT, pin_factory=factory):
        pass


def test_two_chutes_cannot_share_a_pin(chute, factory, events) -> None:
    with pytest.raises(Exception, match="already in use"):
        Chute(events.post, entry_pin=ENTRY, exit_pin=22, pin_factory=factory)


# -- outputs ----------------------------------------------------------------------------


@pytest.fixture
def outputs(factory: SimPinFactory) -> Iterator[Outputs]:
    with Outputs(factory, flap_pin=5, led_pin=6, buzzer_pin=13) as outputs:
        yield outputs


@pytest.mark.parametrize(
    ("route", "flap_on"), [("shelve", False), ("transfer", True), ("hold", True)]
)
def test_the_flap_follows_the_route(outputs, factory, route, flap_on) -> None:
    outputs.set_route(route)
    assert factory.sim_pin(5).state == flap_on


def test_status_light_and_buzzer_accept_their_patterns(outputs, factory) -> None:
    outputs.show_status("ok")
    assert factory.sim_pin(6).state
    outputs.show_status("fault")
    outputs.show_status("off")
    assert not factory.sim_pin(6).state
    outputs.beep("error")
    with pytest.raises(ValueError):
        outputs.set_route("bin")  # type: ignore[arg-type]


def test_output_self_test_passes_and_restores_the_route(outputs, factory) -> None:
    outputs.set_route("transfer")
    assert all(r.ok for r in outputs.diagnose())
    assert factory.sim_pin(5).state


def test_output_self_test_finds_a_dead_output(outputs, factory) -> None:
    factory.sim_pin(13).disconnected = True
    results = {r.device: r.code for r in outputs.diagnose()}
    assert results == {"flap": "ok", "status_led": "ok", "buzzer": "output-fault"}


def test_outputs_are_optional_and_close_twice(factory) -> None:
    outputs = Outputs(factory)
    outputs.set_route("hold")
    outputs.show_status("busy")
    outputs.beep()
    assert outputs.diagnose() == []
    outputs.close()
    outputs.close()


def test_drivers_import_no_gpio_backend_at_import_time() -> None:
    import subprocess
    import sys

    code = (
        "import sys, drivers.chute, drivers.outputs, drivers.scanner;"
        "bad = [m for m in ('RPi', 'RPi.GPIO', 'lgpio', 'serial', 'gpiozero') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=repo
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
