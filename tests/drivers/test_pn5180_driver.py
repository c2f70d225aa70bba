"""Our PN5180 ISO 15693 driver against the register-level chip emulator with a pad of tags."""

from __future__ import annotations

import random

import pytest

from drivers.iso15693 import FIELD_OFF_S, ISO15693Reader, TagError, TagSilent, crc16
from drivers.pn5180_host import BusyStuck, PN5180Host
from hal_sim.iso15693_tag import Iso15693Tag
from hal_sim.pn5180_chip import EmulatedPN5180


class FakeClock:
    """Time that moves only when the driver sleeps (or a BUSY poll ticks it)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        self.t += 1e-6
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def uid(n: int) -> bytes:
    return bytes([0xE0, 0x04, 0x01]) + n.to_bytes(5, "big")


def tags(count: int, seed: int = 7) -> list[Iso15693Tag]:
    rnd = random.Random(seed)
    return [Iso15693Tag(uid(rnd.getrandbits(40))) for _ in range(count)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def chip(clock: FakeClock) -> EmulatedPN5180:
    return EmulatedPN5180(clock=clock.now, busy_reads=2)


@pytest.fixture
def reader(chip: EmulatedPN5180, clock: FakeClock) -> ISO15693Reader:
    host = PN5180Host(chip, chip.busy, clock=clock.now)
    driver = ISO15693Reader(host, clock=clock.now, sleep=clock.sleep)
    driver.init()
    return driver


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x906E


def test_twenty_tag_stack_is_read_through_collisions(chip, reader) -> None:
    stack = tags(20)
    chip.pad.place(*stack)
    result = reader.inventory()
    assert result.collisions > 0 and chip.slots_with_collision == result.collisions
    assert sorted(result.uids) == sorted(t.uid for t in stack)
    assert len(result.uids) == len(set(result.uids))
    assert result.unreadable == [] and chip.violations == 0


def test_software_crc_reads_the_same_stack(chip, clock) -> None:
    host = PN5180Host(chip, chip.busy, clock=clock.now)
    reader = ISO15693Reader(host, software_crc=True, clock=clock.now, sleep=clock.sleep)
    reader.init()
    stack = tags(8, seed=3)
    chip.pad.place(*stack)
    assert sorted(reader.inventory().uids) == sorted(t.uid for t in stack)
    assert reader.read_block(stack[0].uid, 0) == bytes(4)


def test_tags_arriving_and_leaving_between_rounds(chip, reader, clock) -> None:
    first, later = tags(5, seed=1), tags(3, seed=2)
    chip.pad.place(*first)
    assert sorted(reader.inventory().uids) == sorted(t.uid for t in first)
    chip.pad.lift(first[0], first[1])
    chip.pad.place(*later)
    expected = sorted(t.uid for t in first[2:] + later)
    assert sorted(reader.inventory().uids) == expected
    assert clock.slept and min(clock.slept) > 0 and max(clock.slept) <= FIELD_OFF_S
    assert sorted(reader.inventory().uids) == expected  # quiet tags woke up again


def test_field_gap_too_short_misses_quiet_tags(chip, clock) -> None:
    """The emulator holds Quiet across a short gap: a driver that doesn't wait misses the
    tags it quieted (those read before the last round; the last round's are not quieted)."""
    host = PN5180Host(chip, chip.busy, clock=clock.now)
    hasty = ISO15693Reader(host, clock=clock.now, sleep=lambda s: None)
    hasty.init()
    chip.pad.place(*tags(20))
    assert len(hasty.inventory().uids) == 20
    assert len(hasty.inventory().uids) < 20


def test_unreadable_tag_is_reported_and_others_read(chip, reader) -> None:
    stack = tags(6, seed=5)
    stack[2].unreadable = True
    chip.pad.place(*stack)
    result = reader.inventory()
    assert sorted(result.uids) == sorted(t.uid for i, t in enumerate(stack) if i != 2)
    assert len(result.unreadable) == 1


def test_two_tags_with_the_same_item_data(chip, reader) -> None:
    a, b = Iso15693Tag(uid(0x1111)), Iso15693Tag(uid(0x2222))
    item = [b"3900", b"0123", b"4567"]
    for tag in (a, b):
        tag.blocks[0:3] = item
    chip.pad.place(a, b)
    assert sorted(reader.inventory().uids) == sorted([a.uid, b.uid])
    assert reader.read_blocks(a.uid, 0, 3) == reader.read_blocks(b.uid, 0, 3) == b"".join(item)
    reader.write_block(a.uid, 1, b"9999")
    assert a.blocks[1] == b"9999" and b.blocks[1] == b"0123"


def test_uid_ending_in_nibble_zero(chip, reader) -> None:
    zero = [Iso15693Tag(uid(0x10)), Iso15693Tag(uid(0x20)), Iso15693Tag(uid(0x00))]
    chip.pad.place(*zero, *tags(4))
    result = reader.inventory()
    assert all(t.uid in result.uids for t in zero) and len(result.uids) == 7


def test_single_tag_needs_no_slot_round(chip, reader) -> None:
    tag = Iso15693Tag(uid(0x42))
    chip.pad.place(tag)
    before = chip.transfers
    assert reader.inventory().uids == [tag.uid]
    assert chip.transfers - before < 30


def test_failing_write_is_a_clear_error_and_others_untouched(chip, reader) -> None:
    bad, good = Iso15693Tag(uid(0x51), write_fails=True), Iso15693Tag(uid(0x52))
    chip.pad.place(bad, good)
    with pytest.raises(TagError, match=r"E004010000000051.*not programmed") as err:
        reader.write_block(bad.uid, 3, b"ABCD")
    assert err.value.tag_code == 0x13 and err.value.uid == bad.uid
    assert bad.blocks[3] == bytes(4) and good.blocks[3] == bytes(4)


def test_addressed_single_and_multiple_blocks(chip, reader) -> None:
    a, b = Iso15693Tag(uid(0x61)), Iso15693Tag(uid(0x62), supports_write_multiple=False)
    chip.pad.place(a, b)
    reader.write_block(a.uid, 0, b"\x01\x02\x03\x04")
    assert reader.read_block(a.uid, 0) == b"\x01\x02\x03\x04"
    blocks = [b"AAAA", b"BBBB", b"CCCC"]
    reader.write_blocks(a.uid, 4, blocks)
    reader.write_blocks(b.uid, 4, blocks)  # no WRITE MULTIPLE: block by block
    assert reader.read_blocks(a.uid, 4, 3) == reader.read_blocks(b.uid, 4, 3) == b"AAAABBBBCCCC"
    assert a.blocks[0] == b"\x01\x02\x03\x04" and b.blocks[0] == bytes(4)
    with pytest.raises(TagError, match="block not available"):
        reader.read_block(a.uid, 99)


def test_afi_and_eas(chip, reader) -> None:
    a, b = Iso15693Tag(uid(0x71), afi=0x07), Iso15693Tag(uid(0x72), afi=0x07)
    chip.pad.place(a, b)
    reader.write_afi(a.uid, 0xC2)
    assert (a.afi, b.afi) == (0xC2, 0x07)
    assert reader.eas_alarm(a.uid) is True
    reader.reset_eas(a.uid)
    assert (a.eas, b.eas) == (False, True)
    assert reader.eas_alarm(a.uid) is False and reader.eas_alarm(b.uid) is True
    reader.set_eas(a.uid)
    assert a.eas is True


def test_gone_tag_is_silent(chip, reader) -> None:
    tag = Iso15693Tag(uid(0x81))
    with pytest.raises(TagSilent, match="E004010000000081 did not answer"):
        reader.read_block(tag.uid, 0)


def test_busy_stuck_high_is_a_clear_error(chip, reader) -> None:
    chip.stick_busy()
    with pytest.raises(BusyStuck, match="BUSY stayed high") as err:
        reader.inventory()
    assert err.value.code == "reader-busy"


def test_empty_pad_poll_cost(chip, reader) -> None:
    """Counted for the bench: SPI frames per empty-pad inventory."""
    reader.inventory()
    before, host_before = chip.transfers, reader.host.transfers
    assert reader.inventory().uids == []
    cost = chip.transfers - before
    assert cost == reader.host.transfers - host_before == 9


def book_tags(count: int, seed: int = 11) -> list[Iso15693Tag]:
    """Tags whose blocks differ from tag to tag, so a mixed-up read is seen."""
    stack = tags(count, seed)
    for n, tag in enumerate(stack):
        tag.blocks = [bytes([n, b, n ^ b, 0xA5]) for b in range(len(tag.blocks))]
    return stack


def blocks_of(tag: Iso15693Tag, first: int, count: int) -> bytes:
    return b"".join(tag.blocks[first : first + count])


def test_last_round_tags_are_not_quieted(chip, reader) -> None:
    """Three tags in distinct slots: one 16-slot round, after which nobody needs quieting."""
    stack = [Iso15693Tag(uid(n)) for n in (0x01, 0x02, 0x03)]
    chip.pad.place(*stack)
    result = reader.inventory()
    assert sorted(result.uids) == sorted(t.uid for t in stack) and result.collisions == 1
    assert not any(t.quiet for t in stack)


def test_twenty_tag_stack_read_with_data_through_collisions(chip, reader) -> None:
    stack = book_tags(20)
    chip.pad.place(*stack)
    result = reader.inventory(read=(2, 5))
    assert result.collisions > 0 and chip.slots_with_collision >= result.collisions
    assert result.unreadable == [] and chip.violations == 0
    got = {t.uid: t.data for t in result.tags}
    assert len(result.tags) == 20 and got == {t.uid: blocks_of(t, 2, 5) for t in stack}


def test_single_tag_read_with_data_in_the_probe(chip, reader) -> None:
    tag = book_tags(1)[0]
    chip.pad.place(tag)
    result = reader.inventory(read=(0, 3))
    assert [(t.uid, t.data) for t in result.tags] == [(tag.uid, blocks_of(tag, 0, 3))]


def test_mixed_stack_tags_without_inventory_read_are_read_too(chip, reader) -> None:
    stack = book_tags(9, seed=4)
    for tag in stack[::3]:
        tag.supports_inventory_read = False
    chip.pad.place(*stack)
    result = reader.inventory(read=(0, 5))
    got = {t.uid: t.data for t in result.tags}
    assert len(result.tags) == 9 and got == {t.uid: blocks_of(t, 0, 5) for t in stack}
    assert reader.inventory().uids  # plain inventory after it still works


def test_damaged_slot_with_data_is_reported_and_others_read(chip, reader) -> None:
    stack = book_tags(6, seed=5)
    stack[2].unreadable = True
    chip.pad.place(*stack)
    result = reader.inventory(read=(0, 2))
    assert {t.uid: t.data for t in result.tags} == {t.uid: blocks_of(t, 0, 2) for i, t in enumerate(stack) if i != 2}
    assert result.unreadable


def test_uid_ending_in_nibble_zero_read_with_data(chip, reader) -> None:
    zero = [Iso15693Tag(uid(0x10)), Iso15693Tag(uid(0x20)), Iso15693Tag(uid(0x00))]
    for n, tag in enumerate(zero):
        tag.blocks[0] = bytes([n] * 4)
    chip.pad.place(*zero, *book_tags(4))
    result = reader.inventory(read=(0, 1))
    got = {t.uid: t.data for t in result.tags}
    assert len(got) == 7 and all(got[t.uid] == bytes([n] * 4) for n, t in enumerate(zero))


def test_blocks_past_the_memory_leave_data_unread(chip, reader) -> None:
    stack = book_tags(3, seed=9)
    stack[0].supports_inventory_read = False
    chip.pad.place(*stack)
    result = reader.inventory(read=(26, 5))  # 28 blocks: silent to it, found by the sweep
    assert sorted(result.uids) == sorted(t.uid for t in stack) and result.unreadable == []
    assert all(t.data is None for t in result.tags)


def test_tags_refusing_inventory_read_aloud_bring_on_the_plain_pass(chip, reader) -> None:
    """Even with sweep=False (an NXP-only pad assumed), a slot answering 'not supported'
    means a tag the plain pass must find."""
    stack = book_tags(7, seed=6)
    for tag in stack[:3]:
        tag.supports_inventory_read, tag.refuses_aloud = False, True
    chip.pad.place(*stack)
    result = reader.inventory(read=(1, 4), sweep=False)
    assert {t.uid: t.data for t in result.tags} == {t.uid: blocks_of(t, 1, 4) for t in stack}
    assert result.unreadable == []
