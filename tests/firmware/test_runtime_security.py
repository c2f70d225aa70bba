"""The shell runs the security switches in the core's order, on the real serial EM
driver against the simulated unit's firmware on a pty, with the real SQLite journal:
a loan's DESENS reaches the unit only once its row is on disk (never when the write
failed); a return's RESENS before the flap moves; a unit that does not answer comes
back to the reader as "please see staff", within the driver's timeout. A book that came
as an RFID tag has that tag switched (TagSecuritySwitch, by UID) instead of the EM unit,
in the same order: on the real RFID switch and pad driver over the emulated PN5180,
and, for the failure and return paths, on a TagSecuritySwitch stand-in at its protocol."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from contract.barcodes import make_item_barcode
from contract.messages import Response
from contract.tag_data.codec import encode_tag
from contract.tag_data.record import TagRecord
from drivers.book_security import SwitchResult
from drivers.em_security import EmSerialUnit
from drivers.events import (
    BarcodeRead,
    BookEntered,
    BookPassed,
    BooksPresented,
    CardPresented,
    TagRead,
)
from drivers.iso15693 import ISO15693Reader
from drivers.pn5180_host import PN5180Host
from drivers.rfid_pad import RfidPad
from drivers.rfid_security import RfidTagSecurity
from firmware.core.config import CoreConfig
from firmware.core.events import HubAnswered, LinkChanged
from firmware.journal import Journal
from firmware.runtime import KioskRuntime
from hal_sim.em_unit import SimulatedEmSerialUnit
from hal_sim.library_tags import library_tag
from hal_sim.pn5180_chip import EmulatedPN5180
from tests.firmware.test_runtime_journal import drop, fill_to_the_brim, play, rows_on_disk

JOINT = "0101000012345"
BOOK = make_item_barcode("0002", 1)
XICHENG = make_item_barcode("0102", 9)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})


class Outputs:
    """The flap, noting how many switches the unit had made when it moved."""

    def __init__(self, unit: SimulatedEmSerialUnit) -> None:
        self.unit = unit
        self.routes: list[tuple[str, list[str]]] = []

    def set_route(self, route: str) -> None:
        self.routes.append((route, list(self.unit.switched)))

    def show_status(self, status: str) -> None:
        pass

    def beep(self, pattern: str) -> None:
        pass


class Devices:
    def __init__(
        self, unit: SimulatedEmSerialUnit, security: EmSerialUnit, tag_security: object = None
    ) -> None:
        self.outputs = Outputs(unit)
        self.security = security
        self.tag_security = tag_security


class Hub:
    """Answers as the hub would: the reader is valid, the book may go, returns go home.
    `on_disk` holds the journal rows seen when the unit got each command."""

    def __init__(self) -> None:
        self.runtime: KioskRuntime | None = None

    def request(self, corr_id: str, request: Any) -> None:
        assert self.runtime is not None
        answers = {
            "reader_lookup": Response(state="valid", scheme="bj-joint", masked_name="王*明",
                                      pin_required=False, loans=[], items_left=5),
            "checkout_auth": Response(allowed=True, due=DUE, title="三体", items_left=4),
            "return_route": Response(route="transfer", route_library="xicheng", allowed=True),
        }
        self.runtime.post(HubAnswered(corr_id, answers[request.op]))

    def notify_new_txn(self) -> None:
        pass

    def publish_state(self, state: str) -> None:
        pass

    def publish_command_result(self, result: object) -> None:
        pass


@pytest.fixture
def unit() -> Iterator[SimulatedEmSerialUnit]:
    with SimulatedEmSerialUnit() as sim:
        yield sim


def kiosk(
    journal: Journal, unit: SimulatedEmSerialUnit, tag_security: object = None
) -> tuple[KioskRuntime, EmSerialUnit]:
    driver = EmSerialUnit(unit.port, timeout_s=0.3)
    hub = Hub()
    runtime = KioskRuntime(
        CoreConfig(library_id="capital", institution_members=MEMBERS, security=True,
                   tag_security=tag_security is not None),
        Devices(unit, driver, tag_security),  # type: ignore[arg-type]
        journal,
        link=hub,
    )
    hub.runtime = runtime
    play(runtime, LinkChanged(True))
    return runtime, driver


def borrow(runtime: KioskRuntime) -> None:
    play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()), BarcodeRead(BOOK))


def test_the_unit_desensitises_only_once_the_loan_is_on_disk(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        runtime, driver = kiosk(journal, unit)
        rows_when_switched: list[int] = []
        real = driver.unsecure

        def watched(item: str) -> object:
            result = real(item)
            with sqlite3.connect(path) as conn:  # another reader of the file, as after a crash
                rows_when_switched.append(conn.execute("SELECT count(*) FROM rows").fetchone()[0])
            return result

        driver.unsecure = watched  # type: ignore[method-assign]
        try:
            borrow(runtime)
        finally:
            driver.close()
    assert unit.switched == ["unsecure"]
    assert rows_when_switched == [1]
    [line] = runtime.view.items
    assert (line.status, line.message) == ("loaned", None)


def test_a_loan_the_journal_could_not_keep_leaves_the_book_secured(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    journal, earlier = fill_to_the_brim(tmp_path / "journal.sqlite3")
    with journal:
        runtime, driver = kiosk(journal, unit)
        try:
            borrow(runtime)
        finally:
            driver.close()
    assert rows_on_disk(tmp_path / "journal.sqlite3") == earlier
    assert unit.commands == []  # the unit never heard DESENS
    assert runtime.view.screen == "out_of_service"


def test_a_return_is_resensitised_before_the_flap_routes_it(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        runtime, driver = kiosk(journal, unit)
        try:
            drop(runtime, XICHENG, at=1.0)
        finally:
            driver.close()
    assert runtime.devices.outputs.routes == [("transfer", ["secure"])]  # type: ignore[attr-defined]


def test_a_silent_unit_is_told_to_the_reader_by_the_books_title(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    unit.mode = "silent"
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        runtime, driver = kiosk(journal, unit)
        started = time.monotonic()
        try:
            borrow(runtime)
        finally:
            driver.close()
        took = time.monotonic() - started
    assert took < 0.3 + 0.5  # the driver's timeout, not a hang
    [line] = runtime.view.items
    assert line.status == "loaned"
    assert line.message is not None and "三体" in line.message.en
    assert "please see staff before leaving" in line.message.en
    assert runtime.view.hub_message == line.message
    assert any("security:security-no-answer" in f for f in runtime.state.service.recent_faults)


class TagSwitch:
    """A TagSecuritySwitch at its protocol (drivers.book_security): notes each call and
    the journal rows on disk at that moment; `failing` UIDs answer with a fault."""

    def __init__(self, journal_path: Path, failing: frozenset[bytes] = frozenset()) -> None:
        self.path = journal_path
        self.failing = failing
        self.calls: list[tuple[str, bytes, int]] = []

    def _switch(self, op: str, uid: bytes) -> SwitchResult:
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute("SELECT count(*) FROM rows").fetchone()[0]
        self.calls.append((op, uid, rows))
        if uid in self.failing:
            return SwitchResult.fault("security-no-answer", "the tag did not answer")
        return SwitchResult.done()

    def secure_tag(self, uid: bytes) -> SwitchResult:
        return self._switch("secure", uid)

    def unsecure_tag(self, uid: bytes) -> SwitchResult:
        return self._switch("unsecure", uid)


TAG_UID = bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x01, 0x04, 0xE0])
TAG_DATA = encode_tag("iso28560-2", TagRecord(item_id=BOOK))


def test_a_tagged_books_loan_switches_its_tag_not_the_em_unit(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        tags = TagSwitch(path)
        runtime, driver = kiosk(journal, unit, tags)
        try:
            play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()),
                 BooksPresented((TagRead(TAG_UID, TAG_DATA),), source="desk"))
        finally:
            driver.close()
    assert tags.calls == [("unsecure", TAG_UID, 1)]  # addressed by UID, once the row is on disk
    assert unit.commands == []
    [line] = runtime.view.items
    assert (line.barcode, line.status, line.message) == (BOOK, "loaned", None)


def test_a_barcode_book_still_goes_to_the_em_unit_beside_a_tag_switch(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        tags = TagSwitch(path)
        runtime, driver = kiosk(journal, unit, tags)
        try:
            borrow(runtime)
        finally:
            driver.close()
    assert unit.switched == ["unsecure"] and tags.calls == []


def test_a_returned_tag_is_secured_before_the_flap_routes_it(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    path = tmp_path / "journal.sqlite3"
    tag_data = encode_tag("iso28560-2", TagRecord(item_id=XICHENG))
    with Journal.open(path) as journal:
        tags = TagSwitch(path)
        runtime, driver = kiosk(journal, unit, tags)
        moved_after: list[int] = []
        set_route = runtime.devices.outputs.set_route
        runtime.devices.outputs.set_route = lambda route: (  # type: ignore[method-assign]
            moved_after.append(len(tags.calls)), set_route(route))
        try:
            play(runtime, BookEntered(1.0), BooksPresented((TagRead(TAG_UID, tag_data),), source="chute"),
                 BookPassed(at=1.3, transit_ms=300))
        finally:
            driver.close()
    assert tags.calls == [("secure", TAG_UID, 1)]
    assert moved_after == [1]  # the flap moved after the tag was armed
    assert unit.commands == []


def test_a_tag_that_will_not_switch_is_told_to_the_reader_by_name(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        tags = TagSwitch(path, failing=frozenset({TAG_UID}))
        runtime, driver = kiosk(journal, unit, tags)
        try:
            play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()),
                 BooksPresented((TagRead(TAG_UID, TAG_DATA),), source="desk"))
        finally:
            driver.close()
    [line] = runtime.view.items
    assert line.status == "loaned"
    assert line.message is not None and "三体" in line.message.en
    assert "please see staff before leaving" in line.message.en
    assert any("security:security-no-answer" in f for f in runtime.state.service.recent_faults)


class WatchedChip(EmulatedPN5180):
    """The emulated pad's chip, noting the journal rows on disk whenever a WRITE AFI
    (an addressed SEND_DATA with command 0x27) crosses its SPI."""

    def __init__(self, journal_path: Path) -> None:
        super().__init__()
        self.path = journal_path
        self.rows_at_write: list[int] = []

    def xfer2(self, data: list[int]) -> list[int]:
        if len(data) > 3 and data[0] == 0x09 and data[3] == 0x27:
            self.rows_at_write.append(len(rows_on_disk(self.path)))
        return super().xfer2(data)


def test_the_real_tag_switch_unsecures_the_tag_on_the_pad_once_the_loan_is_on_disk(
    tmp_path: Path, unit: SimulatedEmSerialUnit
) -> None:
    """The same order with the real RFID switch and pad driver on the emulated PN5180:
    the tag's AFI goes to "on loan" only after the loan's row is on disk, the book
    beside it is untouched."""
    path = tmp_path / "journal.sqlite3"
    chip = WatchedChip(path)
    book, other = library_tag(BOOK), library_tag(XICHENG)
    chip.pad.place(book, other)
    pad = RfidPad(ISO15693Reader(PN5180Host(chip, chip.busy)), lambda _e: None)
    pad.poll_once()
    with Journal.open(path) as journal:
        runtime, driver = kiosk(journal, unit, RfidTagSecurity([pad]))
        try:
            play(runtime, CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()),
                 BooksPresented((TagRead(book.uid[::-1], bytes(b"".join(book.blocks))),), source="desk"))
        finally:
            driver.close()
            pad.close()
    assert chip.rows_at_write == [1]
    assert (book.afi, other.afi) == (0xC2, 0x07)
    [line] = runtime.view.items
    assert (line.barcode, line.status, line.message) == (BOOK, "loaned", None)
