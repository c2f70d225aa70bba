"""The RFID pad's poller (drivers.rfid_pad) on the emulated PN5180 with library tags:
a stack becomes one BooksPresented once it has settled, with every tag in inventory
order and its memory; a change posts the whole stack again, an empty pad BooksLifted;
a 20-tag stack with collisions, an unreadable tag, a tag whose memory cannot be read,
two tags carrying one item and a UID ending in nibble 0 all arrive; a silent chip is a
fault, cleared by a hard reset on RST once it answers again. Polls are driven by hand
(`poll_once`), so nothing here waits on a clock."""

from __future__ import annotations

import pytest

from contract.tag_data.codec import decode_tag
from drivers.events import BooksLifted, BooksPresented, DeviceFault, DeviceRecovered
from drivers.iso15693 import ISO15693Reader
from drivers.pn5180_host import PN5180Host
from drivers.rfid_pad import RfidPad
from hal_sim.library_tags import library_tag
from hal_sim.pn5180_chip import EmulatedPN5180
from tests.drivers.device_events import Events

BOOKS = [f"301060000001{n:02d}" for n in range(10, 40)]


class EventLog:
    """What the poller posted, in order (polls run on the test's own thread)."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def post(self, event: object) -> None:
        self.events.append(event)


class ResetWire:
    """The RST line of the emulated chip: low then high is a power-on reset."""

    def __init__(self, chip: EmulatedPN5180) -> None:
        self.chip = chip

    def hard_reset(self) -> None:
        self.chip.drive_reset(False)
        self.chip.drive_reset(True)

    def close(self) -> None:
        pass


class Clock:
    """One clock for the driver and the chip: the field-off gap the driver sleeps is the
    gap the tags feel, without the test waiting for it."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


CLOCK = Clock()


def make_pad(chip: EmulatedPN5180, events: EventLog, **options: object) -> RfidPad:
    reader = ISO15693Reader(PN5180Host(chip, chip.busy), clock=CLOCK.now, sleep=CLOCK.sleep)
    return RfidPad(reader, events.post, reset_line=ResetWire(chip), **options)  # type: ignore[arg-type]


@pytest.fixture
def chip() -> EmulatedPN5180:
    return EmulatedPN5180(clock=CLOCK.now)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


def polls(pad: RfidPad, n: int) -> None:
    for _ in range(n):
        pad.poll_once()


def presented(events: EventLog) -> list[BooksPresented]:
    return [e for e in events.events if isinstance(e, BooksPresented)]


def items(event: BooksPresented) -> list[str]:
    return [decode_tag("iso28560-2", tag.data).item_id for tag in event.tags]


def test_a_stack_is_one_event_at_the_first_poll_that_reads_it(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, settle_polls=2)
    tags = [library_tag(book) for book in BOOKS[:5]]
    chip.pad.place(*tags)
    pad.poll_once()
    [event] = events.events  # shown at once: no settle wait for books arriving
    polls(pad, 5)
    assert events.events == [event]  # lying there posts nothing more
    assert isinstance(event, BooksPresented) and event.source == "desk"
    assert sorted(items(event)) == BOOKS[:5]
    assert {tag.uid for tag in event.tags} == {tag.uid[::-1] for tag in tags}  # LSB first, as on air
    assert all(tag.readable and tag.block_size == 4 for tag in event.tags)
    assert all(len(tag.data) == 10 * 4 for tag in event.tags)  # read_blocks' default


def test_a_changed_stack_is_posted_whole_and_an_empty_pad_once(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, settle_polls=2)
    first, second = library_tag(BOOKS[0]), library_tag(BOOKS[1])
    chip.pad.place(first)
    polls(pad, 3)
    chip.pad.place(second)
    polls(pad, 3)
    chip.pad.lift(first, second)
    polls(pad, 4)
    kinds = [type(e).__name__ for e in events.events]
    assert kinds == ["BooksPresented", "BooksPresented", "BooksLifted"]
    assert sorted(items(events.events[1])) == BOOKS[:2]  # every tag on it now, not only the new one
    assert events.events[2] == BooksLifted("desk")


def test_a_tag_missing_from_fewer_than_settle_polls_inventories_has_not_left(
    chip: EmulatedPN5180, events: EventLog
) -> None:
    pad = make_pad(chip, events, settle_polls=3)
    first, second = library_tag(BOOKS[0]), library_tag(BOOKS[1])
    chip.pad.place(first, second)
    pad.poll_once()
    chip.pad.lift(second)  # a lost slot looks like this to the poller
    polls(pad, 2)
    chip.pad.place(second)
    polls(pad, 3)
    assert len(events.events) == 1  # the first stack only
    chip.pad.lift(second)
    polls(pad, 2)
    assert len(events.events) == 1
    pad.poll_once()  # the third poll without it: gone
    assert items(events.events[-1]) == [BOOKS[0]]


def test_twenty_tags_with_collisions_all_arrive(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, settle_polls=2)
    tags = [library_tag(book) for book in BOOKS[:18]]
    nibble_zero = library_tag(BOOKS[20], uid=bytes.fromhex("E004010000000010"))
    twice = library_tag(BOOKS[0], uid=bytes.fromhex("E0040100000000A7"))  # the same item, tagged twice
    chip.pad.place(*tags, nibble_zero, twice)
    polls(pad, 2)
    [event] = presented(events)
    assert len(event.tags) == 20
    assert chip.slots_with_collision > 0
    assert sorted(items(event)) == sorted([*BOOKS[:18], BOOKS[20], BOOKS[0]])
    assert nibble_zero.uid[::-1] in {tag.uid for tag in event.tags}


def test_an_unreadable_tag_is_presented_without_uid_or_data(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, settle_polls=2)
    chip.pad.place(library_tag(BOOKS[0]), library_tag(BOOKS[1], unreadable=True), library_tag(BOOKS[2]))
    polls(pad, 3)
    [event] = presented(events)
    unreadable = [tag for tag in event.tags if not tag.readable]
    assert len(event.tags) == 3 and len(unreadable) == 1
    assert unreadable[0].uid == b""


def test_a_tag_whose_memory_cannot_be_read_is_tried_again_then_presented_without_data(
    chip: EmulatedPN5180, events: EventLog
) -> None:
    pad = make_pad(chip, events, settle_polls=1, read_attempts=3)
    good = library_tag(BOOKS[0])
    small = library_tag(BOOKS[1])
    small.blocks = small.blocks[:4]  # answers "block not available" to a 10-block read
    chip.pad.place(good, small)
    polls(pad, 2)
    assert events.events == []  # its read is still being retried: the stack is not complete
    pad.poll_once()
    [event] = presented(events)
    by_uid = {tag.uid: tag for tag in event.tags}
    assert by_uid[small.uid[::-1]].data == b""
    assert decode_tag("iso28560-2", by_uid[good.uid[::-1]].data).item_id == BOOKS[0]


def test_each_tag_is_read_once_while_it_stays(chip: EmulatedPN5180, events: EventLog) -> None:
    reads: list[bytes] = []
    tag = library_tag(BOOKS[0])
    receive = tag.receive

    def counting(frame: bytes) -> bytes | None:
        if len(frame) > 1 and frame[1] == 0x23:  # READ MULTIPLE BLOCKS
            reads.append(frame)
        return receive(frame)

    tag.receive = counting  # type: ignore[method-assign]
    pad = make_pad(chip, events, settle_polls=2)
    chip.pad.place(tag)
    polls(pad, 6)
    assert len(reads) == 1
    assert all(frame[0] & 0x20 for frame in reads)  # addressed


def test_a_silent_chip_is_one_fault_and_a_reset_brings_it_back(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, settle_polls=1)
    chip.pad.place(library_tag(BOOKS[0]))
    polls(pad, 2)
    chip.unplug()
    polls(pad, 4)
    faults = [e for e in events.events if isinstance(e, DeviceFault)]
    assert faults == [DeviceFault("rfid_pad", "rfid-reader-silent", faults[0].hint)]
    assert "SPI" in faults[0].hint
    assert pad.faulted
    resets = chip.hard_resets
    chip.plug()
    polls(pad, 2)
    assert chip.hard_resets > resets  # RST pulsed on the way back
    assert isinstance(events.events[-1], DeviceRecovered) or any(
        isinstance(e, DeviceRecovered) for e in events.events
    )
    assert not pad.faulted


def test_a_chip_reset_by_a_glitch_is_set_up_again(chip: EmulatedPN5180, events: EventLog) -> None:
    """A power-on reset loses the RF configuration: the inventory finds nobody and no IRQ
    comes, which the poller must take for a chip fault and initialise again."""
    pad = make_pad(chip, events, settle_polls=1)
    tag = library_tag(BOOKS[0])
    chip.pad.place(tag)
    polls(pad, 2)
    chip.drive_reset(False)
    chip.drive_reset(True)
    polls(pad, 4)
    assert not [e for e in events.events if isinstance(e, BooksLifted)]  # the book never "left"
    chip.pad.place(library_tag(BOOKS[1]))
    polls(pad, 3)
    assert sorted(items(presented(events)[-1])) == BOOKS[:2]


def test_the_self_test_reads_a_test_tag(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events)
    [version, field, empty] = pad.diagnose()
    assert version.ok and "firmware 4.0" in version.detail
    assert field.ok and field.detail == "field on"
    assert empty.ok and "not tested" in empty.detail
    tag = library_tag("TESTTAG", afi=0xC2)
    chip.pad.place(tag)
    *_, read = pad.diagnose()
    assert read.ok and tag.uid.hex().upper() in read.detail and "AFI 0xC2" in read.detail


def test_the_self_test_names_a_dead_chip_an_off_field_and_a_bad_tag(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events)
    chip.overheat()
    [_, antenna] = pad.diagnose()
    assert (antenna.ok, antenna.code) == (False, "rfid-antenna")
    chip.cool_down()
    small = library_tag(BOOKS[0])
    small.blocks = small.blocks[:2]
    chip.pad.place(small)
    *_, read = pad.diagnose()
    assert (read.ok, read.code) == (False, "tag-read-failed")
    chip.unplug()
    [dead] = pad.diagnose()
    assert (dead.ok, dead.code, dead.device) == (False, "rfid-reader-silent", "rfid_pad")


def test_the_chute_reader_posts_as_the_chute(chip: EmulatedPN5180, events: EventLog) -> None:
    pad = make_pad(chip, events, source="chute", device="chute_rfid", settle_polls=1)
    chip.pad.place(library_tag(BOOKS[0]))
    pad.poll_once()
    chip.pad.lift(*chip.pad.tags)
    pad.poll_once()
    assert [getattr(e, "source", None) for e in events.events] == ["chute", "chute"]


def test_the_poller_thread_posts_and_closes(chip: EmulatedPN5180) -> None:
    queue = Events()
    reader = ISO15693Reader(PN5180Host(chip, chip.busy))
    pad = RfidPad(reader, queue.post, interval_s=0.01, settle_polls=2)
    chip.pad.place(library_tag(BOOKS[0]))
    with pad:
        assert isinstance(queue.next(), BooksPresented)
    assert not chip.pad.energised  # the field is off once closed


def test_a_record_longer_than_the_first_blocks_is_read_to_its_end(chip: EmulatedPN5180, events: EventLog) -> None:
    """5 blocks are read first; a record that goes on (the data model says so) gets the
    rest, addressed, so a tag with set information and owner ISIL still decodes."""
    from contract.tag_data.codec import encode_tag, record_cut_short
    from contract.tag_data.record import TagRecord

    record = TagRecord(BOOKS[0], owner_isil="CN-110000-C", set_part=2, set_size=3, type_of_usage=0x10)
    memory = encode_tag("iso28560-2", record)
    assert len(memory) > 5 * 4
    long_tag, short_tag = library_tag(BOOKS[1]), library_tag(BOOKS[2])
    padded = memory.ljust(len(long_tag.blocks) * 4, b"\x00")
    long_tag.blocks = [padded[i : i + 4] for i in range(0, len(padded), 4)]
    chip.pad.place(long_tag, short_tag)
    pad = make_pad(chip, events, read_blocks=5, cut_short=lambda data: record_cut_short("iso28560-2", data))
    pad.poll_once()
    [event] = presented(events)
    by_uid = {tag.uid: tag for tag in event.tags}
    assert decode_tag("iso28560-2", by_uid[long_tag.uid[::-1]].data) == record
    assert len(by_uid[long_tag.uid[::-1]].data) == 10 * 4  # 5 first, 5 more
    assert len(by_uid[short_tag.uid[::-1]].data) == 5 * 4  # its record ends within them
