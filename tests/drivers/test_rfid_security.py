"""The RFID security switch (drivers.rfid_security) on emulated PN5180s: it switches
one tag's AFI and/or EAS by the library's convention with addressed writes (the other
books on the pad keep theirs), reads the switch back, finds the tag on the chute's
reader when it has left the pad, and turns every failure into a fault code: a tag gone,
a tag that refuses the write, a dead reader."""

from __future__ import annotations

import pytest

from drivers.rfid_security import RfidTagSecurity
from hal_sim.library_tags import library_tag
from hal_sim.pn5180_chip import EmulatedPN5180
from tests.drivers.test_rfid_pad import BOOKS, CLOCK, EventLog, make_pad

IN_STOCK, ON_LOAN = 0x07, 0xC2


@pytest.fixture
def chips() -> tuple[EmulatedPN5180, EmulatedPN5180]:
    return EmulatedPN5180(clock=CLOCK.now), EmulatedPN5180(clock=CLOCK.now)


def switch_on(chips: tuple[EmulatedPN5180, EmulatedPN5180], convention: str = "afi") -> RfidTagSecurity:
    desk, chute = chips
    readers = [make_pad(desk, EventLog()), make_pad(chute, EventLog(), source="chute", device="chute_rfid")]
    for reader in readers:
        reader.poll_once()
    return RfidTagSecurity(readers, convention=convention, afi_in_stock=IN_STOCK, afi_on_loan=ON_LOAN)  # type: ignore[arg-type]


def on_air(uid: bytes) -> bytes:
    return uid[::-1]  # TagRead's order, which the core hands back


def test_unsecure_switches_that_tag_alone_and_secure_switches_it_back(chips) -> None:
    desk, _ = chips
    tags = [library_tag(book) for book in BOOKS[:5]]
    desk.pad.place(*tags)
    switch = switch_on(chips)
    result = switch.unsecure_tag(on_air(tags[2].uid))
    assert result.ok, result
    assert [tag.afi for tag in tags] == [IN_STOCK, IN_STOCK, ON_LOAN, IN_STOCK, IN_STOCK]
    assert all(tag.eas for tag in tags)  # the AFI convention leaves EAS alone
    assert switch.secure_tag(on_air(tags[2].uid)).ok
    assert tags[2].afi == IN_STOCK


def test_every_write_is_addressed(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0])
    frames: list[bytes] = []
    receive = tag.receive
    tag.receive = lambda frame: (frames.append(frame), receive(frame))[1]  # type: ignore[method-assign]
    desk.pad.place(tag)
    switch_on(chips, "afi+eas").unsecure_tag(on_air(tag.uid))
    writes = [f for f in frames if f[1] in (0x27, 0xA2, 0xA3)]
    assert [f[1] for f in writes] == [0x27, 0xA3]
    assert all(f[0] & 0x20 and tag.uid[::-1] in f for f in writes)


def test_the_eas_convention_switches_the_eas_bit(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0])
    desk.pad.place(tag)
    switch = switch_on(chips, "eas")
    assert switch.unsecure_tag(on_air(tag.uid)).ok
    assert (tag.eas, tag.afi) == (False, IN_STOCK)
    assert switch.secure_tag(on_air(tag.uid)).ok
    assert tag.eas


def test_afi_and_eas_switch_both(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0])
    desk.pad.place(tag)
    assert switch_on(chips, "afi+eas").unsecure_tag(on_air(tag.uid)).ok
    assert (tag.afi, tag.eas) == (ON_LOAN, False)


def test_a_tag_that_refuses_the_write_stays_secured_and_says_so(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0], write_fails=True)
    desk.pad.place(tag)
    result = switch_on(chips).unsecure_tag(on_air(tag.uid))
    assert (result.ok, result.code) == (False, "security-tag-write")
    assert tag.uid.hex().upper() in result.detail
    assert tag.afi == IN_STOCK


def test_a_write_that_does_not_take_is_caught_by_the_read_back(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0])
    receive = tag.receive

    def forgetful(frame: bytes) -> bytes | None:
        afi = tag.afi
        answer = receive(frame)
        tag.afi = afi  # acknowledges WRITE AFI, keeps the old value
        return answer

    tag.receive = forgetful  # type: ignore[method-assign]
    desk.pad.place(tag)
    result = switch_on(chips).unsecure_tag(on_air(tag.uid))
    assert (result.ok, result.code) == (False, "security-tag-write")
    assert "reads back 0x07" in result.detail


def test_a_book_gone_from_every_reader_is_security_tag_gone(chips) -> None:
    desk, _ = chips
    tag = library_tag(BOOKS[0])
    desk.pad.place(tag)
    switch = switch_on(chips)
    desk.pad.lift(tag)
    result = switch.unsecure_tag(on_air(tag.uid))
    assert (result.ok, result.code) == (False, "security-tag-gone")


def test_a_book_in_the_chute_is_secured_by_the_chute_reader(chips) -> None:
    _, chute = chips
    tag = library_tag(BOOKS[0], afi=ON_LOAN)
    chute.pad.place(tag)
    switch = switch_on(chips)
    result = switch.secure_tag(on_air(tag.uid))
    assert result.ok and "chute_rfid" in result.detail
    assert tag.afi == IN_STOCK


def test_a_dead_reader_is_a_fault_not_a_crash(chips) -> None:
    desk, chute = chips
    tag = library_tag(BOOKS[0])
    desk.pad.place(tag)
    switch = switch_on(chips)
    desk.unplug()
    chute.unplug()
    result = switch.unsecure_tag(on_air(tag.uid))
    assert (result.ok, result.code) == (False, "rfid-reader-silent")


def test_the_two_afis_must_differ() -> None:
    with pytest.raises(ValueError, match="differ"):
        RfidTagSecurity([object()], afi_in_stock=0x07, afi_on_loan=0x07)  # type: ignore[list-item]


def test_a_book_gone_from_the_pad_is_told_as_gone_though_the_chute_reader_is_dead(chips) -> None:
    desk, chute = chips
    tag = library_tag(BOOKS[0])
    desk.pad.place(tag)
    switch = switch_on(chips)
    desk.pad.lift(tag)
    chute.unplug()
    result = switch.unsecure_tag(on_air(tag.uid))
    assert (result.ok, result.code) == (False, "security-tag-gone")
