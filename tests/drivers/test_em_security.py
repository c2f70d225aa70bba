"""The EM security units' drivers against the simulated units: real gpiozero pins of
the simulator for the pulse kind, real pyserial on a pseudo-terminal for the serial
kind, with the unit's faults injected."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from drivers.book_security import IO_ERROR, NO_ANSWER, NO_CONFIRM, REFUSED
from drivers.em_security import EmGpioUnit, EmSerialUnit
from hal_sim.em_unit import SimulatedEmGpioUnit, SimulatedEmSerialUnit
from hal_sim.gpio import SimPinFactory

UNSECURE, SECURE, CONFIRM = 5, 6, 13


@pytest.fixture
def factory() -> SimPinFactory:
    return SimPinFactory()


def gpio_driver(factory: SimPinFactory, *, confirm: bool, pulse_s: float = 0.08) -> EmGpioUnit:
    return EmGpioUnit(
        unsecure_pin=UNSECURE,
        secure_pin=SECURE,
        confirm_pin=CONFIRM if confirm else None,
        pulse_s=pulse_s,
        confirm_timeout_s=0.3,
        pin_factory=factory,
    )


def test_unsecure_pulses_its_own_pin_for_the_configured_length(factory: SimPinFactory) -> None:
    unit = SimulatedEmGpioUnit(factory, unsecure_pin=UNSECURE, secure_pin=SECURE)
    driver = gpio_driver(factory, confirm=False, pulse_s=0.08)
    try:
        assert driver.unsecure("39999000000012").ok
        assert driver.secure("39999000000012").ok
    finally:
        driver.close()
    assert [p.action for p in unit.pulses] == ["unsecure", "secure"]
    for pulse in unit.pulses:
        assert 0.08 <= pulse.length_s < 0.08 + 0.05
    assert not factory.sim_pin(UNSECURE).state and not factory.sim_pin(SECURE).state


def test_confirm_line_counts_and_a_silent_unit_is_a_fault(factory: SimPinFactory) -> None:
    unit = SimulatedEmGpioUnit(factory, unsecure_pin=UNSECURE, secure_pin=SECURE, confirm_pin=CONFIRM)
    driver = gpio_driver(factory, confirm=True)
    try:
        assert driver.unsecure("b").ok
        unit.mode = "refuse"
        started = time.monotonic()
        result = driver.unsecure("b")
        assert (result.ok, result.code) == (False, NO_CONFIRM)
        assert time.monotonic() - started < 0.3 + 0.1  # bounded by the confirm timeout
        assert driver.diagnose()[0].code == NO_CONFIRM
    finally:
        driver.close()
    assert driver.unsecure("b").code == IO_ERROR  # closed: a fault, not an exception


def test_a_pulse_too_short_for_the_unit_is_not_confirmed(factory: SimPinFactory) -> None:
    SimulatedEmGpioUnit(factory, unsecure_pin=UNSECURE, secure_pin=SECURE, confirm_pin=CONFIRM,
                        min_pulse_s=0.1)
    driver = gpio_driver(factory, confirm=True, pulse_s=0.02)
    try:
        assert driver.unsecure("b").code == NO_CONFIRM
    finally:
        driver.close()


@pytest.fixture
def serial_unit() -> Iterator[SimulatedEmSerialUnit]:
    with SimulatedEmSerialUnit() as unit:
        yield unit


def test_serial_command_and_answer(serial_unit: SimulatedEmSerialUnit) -> None:
    driver = EmSerialUnit(serial_unit.port, timeout_s=0.5)
    try:
        first, second = driver.unsecure("b1"), driver.secure("b1")
    finally:
        driver.close()
    assert first.ok and second.ok, (first, second)
    assert serial_unit.commands == ["DESENS", "RESENS"]
    assert serial_unit.switched == ["unsecure", "secure"]


def test_serial_refusal_and_silence_are_faults_within_the_timeout(
    serial_unit: SimulatedEmSerialUnit,
) -> None:
    driver = EmSerialUnit(serial_unit.port, timeout_s=0.3)
    try:
        serial_unit.mode = "refuse"
        refused = driver.unsecure("b1")
        assert (refused.ok, refused.code) == (False, REFUSED)
        assert "ERR NO-STRIP" in refused.detail
        serial_unit.mode = "silent"
        started = time.monotonic()
        silent = driver.unsecure("b1")
        took = time.monotonic() - started
        assert (silent.ok, silent.code) == (False, NO_ANSWER)
        assert 0.3 <= took < 0.3 + 0.2  # the timeout, not a hang
        serial_unit.mode = "ok"
        assert driver.unsecure("b1").ok  # the unit back: the next switch works
    finally:
        driver.close()
    assert serial_unit.switched == ["unsecure"]


def test_serial_port_missing_is_an_io_fault(tmp_path: object) -> None:
    driver = EmSerialUnit("/nonexistent/em-unit", timeout_s=0.2)
    try:
        result = driver.secure("b1")
    finally:
        driver.close()
    assert (result.ok, result.code) == (False, IO_ERROR)
