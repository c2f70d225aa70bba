"""Peer check: the unmodified `mfrc522` package (an independent MFRC522 implementation)
runs against our chip emulator and reads what a real chip would give it.

Its `RPi.GPIO` and `spidev` imports are satisfied by test doubles for these tests
only; cached `mfrc522` modules are dropped before and after so nothing leaks.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from drivers.mfrc522 import MFRC522
from drivers.mfrc522_errors import NoCard
from hal_sim.cards import bcc, library_card
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.mfrc522_package_doubles import package_test_doubles

NUMBER = "0110000012345"


def _drop_cached_package() -> None:
    for name in [n for n in sys.modules if n == "mfrc522" or n.startswith("mfrc522.")]:
        del sys.modules[name]


@pytest.fixture
def chip() -> EmulatedMFRC522:
    return EmulatedMFRC522()


@pytest.fixture
def package(chip: EmulatedMFRC522, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    _drop_cached_package()
    for name, module in package_test_doubles(chip).items():
        monkeypatch.setitem(sys.modules, name, module)
    # Each package MFRC522() adds a handler to this global logger; undo that too.
    package_logger = logging.getLogger("mfrc522Logger")
    handlers = list(package_logger.handlers)
    try:
        yield importlib.import_module("mfrc522")
    finally:
        _drop_cached_package()
        package_logger.handlers[:] = handlers


def package_id(uid: bytes) -> int:
    """The package's card number: the 4 UID bytes and the BCC folded into one integer."""
    return int.from_bytes(uid + bytes([bcc(uid)]), "big")


def test_unmodified_package_reads_uid_and_card_number_from_the_emulated_chip(
    chip: EmulatedMFRC522, package: ModuleType
) -> None:
    card = chip.field.present(library_card(NUMBER))
    reader = package.SimpleMFRC522()
    card_id, text = reader.read_no_block()
    assert card_id == package_id(card.uid)
    assert text.rstrip() == NUMBER
    assert chip.opened == (0, 0)


def test_package_finds_nothing_on_an_empty_field(chip: EmulatedMFRC522, package: ModuleType) -> None:
    assert package.SimpleMFRC522().read_no_block() == (None, None)


def test_package_sees_a_collision_when_two_cards_are_presented(
    chip: EmulatedMFRC522, package: ModuleType
) -> None:
    chip.field.present(library_card("1"))
    chip.field.present(library_card("2"))
    reader = package.MFRC522()
    status, _ = reader.MFRC522_Request(reader.PICC_REQIDL)
    assert status == reader.MI_OK
    status, _ = reader.MFRC522_Anticoll()
    assert status == reader.MI_ERR


def test_package_writes_a_card_that_our_driver_reads_back(
    chip: EmulatedMFRC522, package: ModuleType
) -> None:
    card = chip.field.present(library_card("old number"))
    card_id, written = package.SimpleMFRC522().write_no_block("0110000099999")
    assert card_id == package_id(card.uid)
    assert written == "0110000099999"
    assert card.block(8) == b"0110000099999   "

    ours = MFRC522(chip)
    ours.init()
    ours.wakeup_a()
    selected = ours.select()
    ours.authenticate(11, b"\xff" * 6, selected.uid)
    assert ours.read_block(8) == b"0110000099999   "


def test_package_auth_with_wrong_key_fails_like_on_a_chip(
    chip: EmulatedMFRC522, package: ModuleType
) -> None:
    card = chip.field.present(library_card(NUMBER))
    reader = package.MFRC522()
    reader.MFRC522_Request(reader.PICC_REQIDL)
    _, uid = reader.MFRC522_Anticoll()
    assert reader.MFRC522_SelectTag(uid) == 0x08
    assert reader.MFRC522_Auth(reader.PICC_AUTHENT1A, 11, [0] * 6, uid) != reader.MI_OK
    assert not chip.crypto1_on
    assert card.uid == bytes(uid[:4])


def test_empty_poll_spi_transfers_ours_vs_package(chip: EmulatedMFRC522, package: ModuleType) -> None:
    ours = MFRC522(chip)
    ours.init()
    before = chip.transfers
    with pytest.raises(NoCard):
        ours.wakeup_a()
    ours_count = chip.transfers - before

    theirs = package.MFRC522()
    before = chip.transfers
    status, _ = theirs.MFRC522_Request(theirs.PICC_REQIDL)
    theirs_count = chip.transfers - before
    assert status != theirs.MI_OK

    print(f"\nSPI transfers per empty poll: ours {ours_count}, mfrc522 package {theirs_count}")
    assert ours_count < theirs_count
