"""Scenario scripts: every verb parses, every mistake names its line; device steps play
against the real simulators and drivers."""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Iterator

import pytest

from drivers.chute import Chute
from drivers.events import BarcodeRead, BookEntered, BookPassed, ChuteCleared, ChuteJammed
from drivers.scanner import BarcodeScanner
from hal_sim.chute_sim import SimulatedChute
from hal_sim.device_steps import DeviceStepRunner
from hal_sim.gpio import SimPinFactory
from hal_sim.scanner_pty import SimulatedScanner
from hal_sim.scenario import parse_scenario
from hal_sim.scenario_steps import (
    Clear,
    Drop,
    ExpectAttempts,
    ExpectCommitted,
    ExpectHold,
    ExpectLoan,
    ExpectMessage,
    ExpectOffline,
    ExpectOnline,
    ExpectPending,
    ExpectRefused,
    ExpectRenewed,
    ExpectReturn,
    ExpectRoute,
    ExpectScreen,
    ExpectSecured,
    HubDown,
    HubUp,
    Jam,
    Lift,
    Pin,
    Place,
    PowerCut,
    Press,
    Remove,
    Scan,
    ScenarioError,
    Step,
    TagSpec,
    Tap,
    UnhandledStep,
    Wait,
)

DESIGN_EXAMPLE = """\
# a joint-card reader borrows one book, then a book of another member is returned
tap 0110000012345
expect screen pin
pin 123456
expect screen borrow
scan 30101000000017
expect loan 30101000000017
press finish
expect screen summary
remove
expect screen attract
drop 30234000001233
expect return 30234000001233
expect route 30234000001233 transfer xicheng
expect committed 30234000001233
"""


def test_the_design_example_parses_with_line_numbers() -> None:
    steps = parse_scenario(DESIGN_EXAMPLE)
    assert steps[0] == Tap(2, "0110000012345")
    assert steps[4] == Scan(6, "30101000000017")
    assert steps[-1] == ExpectCommitted(15, "30234000001233")
    assert [s.line for s in steps] == list(range(2, 16))


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("tap 0110000012345", Tap(1, "0110000012345")),
        ("tap 0110000012345 uid=04A1B2C3", Tap(1, "0110000012345", bytes.fromhex("04a1b2c3"))),
        ("tap A12 uid=04:a1:b2:c3:d4:e5:f6", Tap(1, "A12", bytes.fromhex("04a1b2c3d4e5f6"))),
        ("remove", Remove(1)),
        ("pin 123456", Pin(1, "123456")),
        ("scan 9780306406157", Scan(1, "9780306406157")),
        ("drop 30234000001233", Drop(1, "30234000001233")),
        ("jam", Jam(1, "entry")),
        ("jam exit", Jam(1, "exit")),
        ("clear", Clear(1)),
        *[
            (f"press {a}", Press(1, a))
            for a in ("borrow", "return", "finish", "renew", "help", "lang", "cancel")
        ],
        ("wait 2", Wait(1, 2.0)),
        ("wait 0.25", Wait(1, 0.25)),
        ("hub down", HubDown(1)),
        ("hub up", HubUp(1)),
        ("power cut", PowerCut(1)),
        *[
            (f"expect screen {s}", ExpectScreen(1, s))
            for s in (
                "attract",
                "pin",
                "borrow",
                "returns",
                "summary",
                "help",
                "out_of_service",
                "technician",
            )
        ],
        ("expect loan 30101000000017", ExpectLoan(1, "30101000000017")),
        ("expect refused 30101000000017", ExpectRefused(1, "30101000000017")),
        ("expect refused 30101000000017 on-loan", ExpectRefused(1, "30101000000017", "on-loan")),
        ("expect return 30101000000017", ExpectReturn(1, "30101000000017")),
        ("expect route 3010 shelve", ExpectRoute(1, "3010", "shelve")),
        ("expect route 3010 transfer xicheng", ExpectRoute(1, "3010", "transfer", "xicheng")),
        ("expect route 3010 hold", ExpectRoute(1, "3010", "hold")),
        ("expect offline", ExpectOffline(1)),
        ("expect online", ExpectOnline(1)),
        ("expect pending 6", ExpectPending(1, 6)),
        ("expect committed 3010", ExpectCommitted(1, "3010")),
        ("expect renewed 3010", ExpectRenewed(1, "3010")),
        ("expect attempts 4", ExpectAttempts(1, 4)),
        ("expect hold 3010 ready capital", ExpectHold(1, "3010", "ready", "capital")),
        ("expect hold 3010 IN_TRANSIT", ExpectHold(1, "3010", "in_transit")),
        ("place 3010", Place(1, (TagSpec("3010"),))),
        (
            "place 3010 3011 3012 3013 3014",
            Place(1, tuple(TagSpec(f"301{i}") for i in range(5))),
        ),
        (
            "place 3010:1/3 3010:3/3 3011",
            Place(1, (TagSpec("3010", 1, 3), TagSpec("3010", 3, 3), TagSpec("3011"))),
        ),
        (
            "place 3010:unreadable 3011:WRITE-FAILS 3012:2/2:write-fails",
            Place(
                1,
                (
                    TagSpec("3010", unreadable=True),
                    TagSpec("3011", write_fails=True),
                    TagSpec("3012", 2, 2, write_fails=True),
                ),
            ),
        ),
        ("place 3010:tag", Place(1, (TagSpec("3010"),))),  # on the pad every book is tagged
        ("lift", Lift(1)),
        ("lift 3010 3011:2/3", Lift(1, (TagSpec("3010"), TagSpec("3011", 2, 3)))),
        ("drop 3010:tag", Drop(1, "3010", TagSpec("3010"))),
        ("drop 3010:tag:1/2", Drop(1, "3010", TagSpec("3010", 1, 2))),
        ("drop 3010:write-fails:tag", Drop(1, "3010", TagSpec("3010", write_fails=True))),
        ("expect secured 3010 on", ExpectSecured(1, "3010", None, True)),
        ("expect secured 3010 OFF", ExpectSecured(1, "3010", None, False)),
        ("expect secured 3010:2/3 off", ExpectSecured(1, "3010", 2, False)),
        ("expect message 3010 staff", ExpectMessage(1, "3010", "staff")),
        ("  SCAN 3010   # verbs are case-insensitive, comments end a line", Scan(1, "3010")),
    ],
)
def test_every_verb_parses(text: str, step: Step) -> None:
    assert parse_scenario(text) == [step]


def test_comments_and_blank_lines_are_skipped_but_counted() -> None:
    assert parse_scenario("# header\n\n   \n\t# indented comment\nremove\n") == [Remove(5)]


def test_steps_are_frozen() -> None:
    step = parse_scenario("scan 3010")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.barcode = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("scna 3010", "unknown verb 'scna' (did you mean 'scan'?)"),
        ("frobnicate", "unknown verb 'frobnicate'"),
        ("tap", "'tap' takes 1 to 2 arguments"),
        ("tap 1 uid=04A1B2C3 extra", "'tap' takes 1 to 2 arguments"),
        ("tap 1 04A1B2C3", "expects uid=HEX"),
        ("tap 1 uid=zz", "uid must be hexadecimal"),
        ("tap 1 uid=0102", "uid must be 4, 7 or 10 bytes"),
        ("tap 12-34", "card number must be letters and digits"),
        ("remove now", "'remove' takes 0 arguments"),
        ("pin", "'pin' takes 1 argument"),
        ("pin 12a4", "'pin' needs digits"),
        ("scan", "'scan' takes 1 argument"),
        ("scan 1 2", "'scan' takes 1 argument"),
        ("drop", "'drop' takes 1 argument"),
        ("jam sideways", "unknown beam 'sideways'"),
        ("clear all", "'clear' takes 0 arguments"),
        ("press fnish", "unknown action 'fnish' (did you mean 'finish'?)"),
        ("press", "'press' takes 1 argument"),
        ("wait", "'wait' takes 1 argument"),
        ("wait soon", "'wait' needs a number of seconds, got 'soon'"),
        ("wait -1", "'wait' needs a number of seconds >= 0"),
        ("wait nan", "'wait' needs a number of seconds >= 0"),
        ("wait inf", "'wait' needs a number of seconds >= 0"),
        ("hub", "'hub' takes 1 argument"),
        ("hub sideways", "unknown hub state 'sideways'"),
        ("power", "'power' takes 1 argument"),
        ("power on", "unknown power event 'on'"),
        ("expect", "'expect' needs what to expect"),
        ("expect scren pin", "unknown expectation 'scren' (did you mean 'screen'?)"),
        ("expect screen borow", "unknown screen 'borow' (did you mean 'borrow'?)"),
        ("expect screen", "'expect screen' takes 1 argument"),
        ("expect loan", "'expect loan' takes 1 argument"),
        ("expect refused", "'expect refused' takes 1 to 2 arguments"),
        ("expect return", "'expect return' takes 1 argument"),
        ("expect route 3010", "'expect route' takes 2 to 3 arguments"),
        ("expect route 3010 shelf", "unknown route 'shelf' (did you mean 'shelve'?)"),
        ("expect hold 3010 redy", "unknown hold status 'redy' (did you mean 'ready'?)"),
        ("expect offline now", "'expect offline' takes 0 arguments"),
        ("expect online now", "'expect online' takes 0 arguments"),
        ("expect committed", "'expect committed' takes 1 argument"),
        ("expect renewed", "'expect renewed' takes 1 argument"),
        ("expect attempts four", "'expect attempts' needs digits, got 'four'"),
        ("place", "'place' takes 1 to 30 arguments"),
        (" ".join(["place", *(f"30{i:02d}" for i in range(31))]), "'place' takes 1 to 30 arguments"),
        ("place 30-10", "'place': a tagged book's barcode is letters and digits, got '30-10'"),
        ("place :1/3", "a tagged book's barcode is letters and digits"),
        ("place 3010:4/3", "'place': part 4 of 3 is impossible (1 <= N <= M)"),
        ("place 3010:0/3", "part 0 of 3 is impossible"),
        ("place 3010:x/3", "'place': a set part is N/M (part N of M), got 'x/3'"),
        ("place 3010:2", "a set part is N/M"),
        ("place 3010:1/3:2/3", "'place': '3010:1/3:2/3' names two set parts"),
        ("place 3010:writefails", "unknown tag option 'writefails' (did you mean 'write-fails'?)"),
        ("place 3010:broken", "one of: N/M, unreadable, write-fails"),
        ("place 3010 3011 3010", "'place': 3010 is named twice; one book has one tag"),
        ("place 3010:1/2 3010:1/2:write-fails", "3010:1/2 is named twice"),
        ("lift 3010:write-fails", "'lift': tag faults are given where the book first appears"),
        ("lift 3010 3010", "'lift': 3010 is named twice"),
        ("drop 3010:1/3", "'drop 3010:1/3': a tagged book dropped in the chute is marked ':tag'"),
        ("drop 3010:tag:4/3", "part 4 of 3 is impossible"),
        ("drop 3010:tga", "marked ':tag'"),
        ("expect secured 3010", "'expect secured' takes 2 arguments"),
        ("expect secured 3010 maybe", "unknown security state 'maybe'; one of: on, off"),
        ("expect secured 3010 of", "unknown security state 'of' (did you mean 'off'?)"),
        ("expect secured 3010:write-fails on", "tag faults are given where the book first appears"),
        ("expect message 3010", "'expect message' takes 2 arguments"),
    ],
)
def test_every_mistake_names_its_line(bad: str, message: str) -> None:
    script = "# a script with a mistake on line 7\nremove\n\nscan 3010\n# comment\nwait 1\n" + bad
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(script)
    assert caught.value.line == 7
    assert str(caught.value).startswith("line 7: ")
    assert message in str(caught.value)


def test_the_first_mistake_is_the_one_reported() -> None:
    with pytest.raises(ScenarioError, match=r"^line 2: unknown verb 'scna'"):
        parse_scenario("remove\nscna 1\npress fnish\n")


# -- the device runner -----------------------------------------------------------------


class RecordingField:
    """Stands in for the emulated reader's RF field: records what comes and goes."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    def present(self, card: object) -> None:
        self.log.append(("present", card))

    def remove(self, card: object) -> None:
        self.log.append(("remove", card))


def make_card(number: str, uid: bytes | None) -> tuple[str, bytes | None]:
    return (number, uid)


class Kiosk:
    """The simulated devices with the real drivers reading them, all posting to one queue."""

    def __init__(self) -> None:
        self.events: queue.Queue[object] = queue.Queue()
        self.factory = SimPinFactory()
        self.desk_sim = SimulatedScanner()
        self.chute_sim_scanner = SimulatedScanner(name="chute_scanner")
        self.chute_world = SimulatedChute(self.factory, 17, 27)
        self.desk = BarcodeScanner(self.desk_sim.port, self.events.put).start()
        self.chute_scanner = BarcodeScanner(
            self.chute_sim_scanner.port, self.events.put, source="chute"
        ).start()
        self.chute = Chute(
            self.events.put,
            entry_pin=17,
            exit_pin=27,
            pin_factory=self.factory,
            jam_after_s=0.2,
            min_gap_s=0.01,
        )

    def next(self) -> object:
        return self.events.get(timeout=3)

    def close(self) -> None:
        for device in (
            self.chute,
            self.desk,
            self.chute_scanner,
            self.desk_sim,
            self.chute_sim_scanner,
        ):
            device.close()


@pytest.fixture
def kiosk() -> Iterator[Kiosk]:
    kiosk = Kiosk()
    yield kiosk
    kiosk.close()


def test_device_steps_play_against_the_simulators(kiosk: Kiosk) -> None:
    field = RecordingField()
    slept: list[float] = []
    runner = DeviceStepRunner(
        card_field=field,
        library_card=make_card,
        desk_scanner=kiosk.desk_sim,
        chute_scanner=kiosk.chute_sim_scanner,
        chute=kiosk.chute_world,
        sleep=slept.append,
    )
    runner.run(
        parse_scenario("tap 0110000012345 uid=04A1B2C3\nscan 30101000000018\nwait 1.5\nremove")
    )
    assert kiosk.next() == BarcodeRead("30101000000018", "desk")
    assert field.log == [
        ("present", ("0110000012345", bytes.fromhex("04A1B2C3"))),
        ("remove", ("0110000012345", bytes.fromhex("04A1B2C3"))),
    ]
    assert slept == [1.5]

    runner.run(parse_scenario("drop 30234000001233"))
    seen = {kiosk.next(), kiosk.next(), kiosk.next()}
    assert BarcodeRead("30234000001233", "chute") in seen
    assert {type(e) for e in seen} == {BarcodeRead, BookEntered, BookPassed}

    runner.run(parse_scenario("jam\nwait 0"))
    assert isinstance(kiosk.next(), BookEntered)
    assert isinstance(kiosk.next(), ChuteJammed)
    runner.run(parse_scenario("clear"))
    assert kiosk.next() == ChuteCleared()


def test_a_book_dropped_into_a_jammed_chute_is_refused_and_the_jam_stays(kiosk: Kiosk) -> None:
    """A jammed chute's slot is blocked: the drop step is refused with its line, the
    chute scanner reads nothing, no beam moves, and only `clear` ends the jam."""
    runner = DeviceStepRunner(chute_scanner=kiosk.chute_sim_scanner, chute=kiosk.chute_world)
    runner.run(parse_scenario("jam"))
    assert isinstance(kiosk.next(), BookEntered)
    assert isinstance(kiosk.next(), ChuteJammed)
    with pytest.raises(ScenarioError, match="jammed") as refused:
        runner.run(parse_scenario("drop 30234000001233"))
    assert refused.value.line == 1
    assert kiosk.chute_world.jammed and kiosk.chute_world.is_broken("entry")
    with pytest.raises(queue.Empty):
        kiosk.events.get(timeout=0.5)  # no read, no ChuteCleared: nothing happened
    runner.run(parse_scenario("clear"))
    assert kiosk.next() == ChuteCleared()
    runner.run(parse_scenario("drop 30234000001233"))
    seen = {kiosk.next(), kiosk.next(), kiosk.next()}
    assert BarcodeRead("30234000001233", "chute") in seen


def test_core_steps_go_to_the_handler_given() -> None:
    handled: list[Step] = []
    runner = DeviceStepRunner(other=handled.append)
    steps = parse_scenario("pin 1234\npress finish\nhub down\nhub up\npower cut\nexpect online")
    runner.run(steps)
    assert handled == steps


def test_core_steps_without_a_handler_are_a_clear_error() -> None:
    with pytest.raises(UnhandledStep, match=r"^line 2: 'expect screen' needs the kiosk core"):
        DeviceStepRunner().run(parse_scenario("wait 0\nexpect screen pin"))


def test_a_device_step_without_its_simulator_is_a_clear_error() -> None:
    with pytest.raises(ScenarioError, match=r"^line 1: 'drop' needs a simulated device"):
        DeviceStepRunner().run(parse_scenario("drop 3010"))


def test_remove_without_a_card_is_an_error() -> None:
    runner = DeviceStepRunner(card_field=RecordingField(), library_card=make_card)
    with pytest.raises(ScenarioError, match="no card is in the field"):
        runner.run(parse_scenario("remove"))


def test_scanning_on_an_unplugged_scanner_is_an_error() -> None:
    with SimulatedScanner() as sim:
        sim.unplug()
        runner = DeviceStepRunner(desk_scanner=sim, scanner_open_timeout_s=0.1)
        with pytest.raises(ScenarioError, match=r"^line 1: 'scan'"):
            runner.run(parse_scenario("scan 3010"))


def test_tapping_the_card_already_on_the_reader_lifts_it_and_lays_it_back() -> None:
    """A second `tap` of the same card is a new tap: the card leaves the field, the
    runner waits for the reader to see it go, and it comes back."""
    from hal_sim.cards import library_card
    from hal_sim.rf_field import RfField

    field = RfField()
    seen_while_lifted: list[int] = []
    runner = DeviceStepRunner(
        card_field=field,
        library_card=library_card,
        card_lifted=lambda: seen_while_lifted.append(len(field.cards)),
    )
    runner.run(parse_scenario("tap 0110000012345"))
    first = field.cards
    runner.run(parse_scenario("tap 0110000012345"))
    assert seen_while_lifted == [0]  # the field was empty while the reader looked
    assert len(field.cards) == 1 and field.cards != first
    runner.run(parse_scenario("tap 0210000067890"))  # another card: laid beside it
    assert seen_while_lifted == [0] and len(field.cards) == 2



# -- RFID tags on the lending pad and in the chute ---------------------------------------


@dataclasses.dataclass(eq=False)
class FakeTag:
    """A library tag as the double pad keeps it: which book, and its security bit."""

    spec: TagSpec
    secured: bool


class RecordingPad:
    """Stands in for the rig's pad (`place`/`lift`/`tag_secured`) and its chute reader
    (`drop_tag`): records every call, and holds what lies on the pad."""

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[object, ...]]] = []
        self.on_pad: list[FakeTag] = []

    def place(self, *tags: FakeTag) -> None:
        self.log.append(("place", tags))
        self.on_pad.extend(tags)

    def lift(self, *tags: FakeTag) -> None:
        self.log.append(("lift", tags))
        self.on_pad = [t for t in self.on_pad if tags and t not in tags]

    def tag_secured(self, tag: FakeTag) -> bool:
        return tag.secured

    def drop_tag(self, tag: FakeTag) -> None:
        self.log.append(("drop_tag", (tag,)))


class TagMaker:
    """The tag factory double: a new tag is secured unless the book was lent already."""

    def __init__(self) -> None:
        self.made: list[tuple[TagSpec, bool]] = []

    def __call__(self, spec: TagSpec, lent: bool) -> FakeTag:
        self.made.append((spec, lent))
        return FakeTag(spec, secured=not lent)


class StubChute:
    def __init__(self, jammed: bool = False) -> None:
        self.jammed = jammed
        self.drops = 0

    def drop(self) -> None:
        self.drops += 1

    def jam(self, beam: str = "entry") -> None:
        self.jammed = True

    def clear(self) -> None:
        self.jammed = False


def pad_runner(**handles: object) -> tuple[DeviceStepRunner, RecordingPad, TagMaker]:
    pad, maker = RecordingPad(), TagMaker()
    runner = DeviceStepRunner(pad=pad, tag_chute=pad, library_tag=maker, **handles)  # type: ignore[arg-type]
    return runner, pad, maker


def test_placed_books_arrive_on_the_pad_in_one_stack() -> None:
    runner, pad, maker = pad_runner()
    runner.run(parse_scenario("place 3010 3011:1/2 3011:2/2:write-fails 3012:unreadable"))
    assert len(pad.log) == 1  # one call: the stack lands at once, not book by book
    verb, tags = pad.log[0]
    assert verb == "place"
    assert [t.spec.name for t in tags] == ["3010", "3011:1/2", "3011:2/2", "3012"]  # type: ignore[attr-defined]
    assert maker.made == [
        (TagSpec("3010"), False),
        (TagSpec("3011", 1, 2), False),
        (TagSpec("3011", 2, 2, write_fails=True), False),
        (TagSpec("3012", unreadable=True), False),
    ]  # in stock: made secured, with the faults the script gave


def test_lift_takes_the_books_named_or_the_whole_stack() -> None:
    runner, pad, _ = pad_runner()
    runner.run(parse_scenario("place 3010 3011 3012\nlift 3011"))
    assert [t.spec.barcode for t in pad.on_pad] == ["3010", "3012"]
    assert [t.spec.barcode for t in pad.log[-1][1]] == ["3011"]  # type: ignore[attr-defined]
    runner.run(parse_scenario("lift"))
    assert pad.log[-1] == ("lift", ()) and pad.on_pad == []
    with pytest.raises(ScenarioError, match=r"^line 1: 'lift' but no book is on the pad"):
        runner.run(parse_scenario("lift"))


def test_lifting_a_book_that_is_not_on_the_pad_is_an_error_and_lifts_nothing() -> None:
    runner, pad, _ = pad_runner()
    runner.run(parse_scenario("place 3010 3011:1/2"))
    with pytest.raises(ScenarioError, match=r"^line 2: 'lift 3011:2/2': that book is not on the pad"):
        runner.run(parse_scenario("wait 0\nlift 3010 3011:2/2"))
    assert len(pad.on_pad) == 2 and [v for v, _ in pad.log] == ["place"]


def test_a_book_laid_again_is_its_same_tag_and_one_on_the_pad_cannot_be_laid_twice() -> None:
    runner, pad, maker = pad_runner()
    runner.run(parse_scenario("place 3010"))
    first = pad.on_pad[0]
    first.secured = False  # the kiosk lent it and switched its security off
    with pytest.raises(ScenarioError, match=r"^line 1: 'place 3010': that book is on the pad already"):
        runner.run(parse_scenario("place 3011 3010"))
    assert pad.on_pad == [first]  # nothing of that step happened, not even 3011
    runner.run(parse_scenario("lift\nplace 3010"))
    assert pad.on_pad == [first] and len(maker.made) == 1
    assert runner.secured("3010") == [("3010", False)]  # as the kiosk left it


def test_a_tag_keeps_the_faults_it_first_had() -> None:
    runner, _, _ = pad_runner()
    runner.run(parse_scenario("place 3010\nlift"))
    with pytest.raises(ScenarioError, match=r"appeared before as '3010'; its tag keeps"):
        runner.run(parse_scenario("place 3010:write-fails"))


def test_a_tagged_book_dropped_is_the_tag_lent_from_the_pad() -> None:
    chute = StubChute()
    runner, pad, maker = pad_runner(chute=chute)
    runner.run(parse_scenario("place 3010"))
    with pytest.raises(ScenarioError, match=r"'drop 3010': that book is still on the pad; 'lift' it first"):
        runner.run(parse_scenario("drop 3010:tag"))
    lent = pad.on_pad[0]
    runner.run(parse_scenario("lift\ndrop 3010:tag"))
    assert pad.log[-1] == ("drop_tag", (lent,))
    assert chute.drops == 0  # the chute's tag reader took it, not its barcode scanner path
    runner.run(parse_scenario("drop 3020:tag:write-fails"))  # lent elsewhere, first seen here
    assert maker.made[-1] == (TagSpec("3020", write_fails=True), True)
    assert runner.secured("3020") == [("3020", False)]  # comes back unsecured


def test_a_tagged_book_cannot_enter_a_jammed_chute() -> None:
    runner, pad, maker = pad_runner(chute=StubChute(jammed=True))
    with pytest.raises(ScenarioError, match=r"^line 1: 'drop 3010': the chute is jammed"):
        runner.run(parse_scenario("drop 3010:tag"))
    assert pad.log == [] and maker.made == []


def test_secured_reads_every_tag_of_a_book_or_one_part() -> None:
    runner, pad, _ = pad_runner()
    runner.run(parse_scenario("place 3010:1/3 3010:3/3 3011"))
    pad.on_pad[1].secured = False
    assert runner.secured("3010") == [("3010:1/3", True), ("3010:3/3", False)]
    assert runner.secured("3010", 3) == [("3010:3/3", False)]
    assert runner.secured("3011") == [("3011", True)]
    with pytest.raises(LookupError, match="no tag for 3010:2/… was placed or dropped"):
        runner.secured("3010", 2)
    with pytest.raises(LookupError, match="no tag for 3099 was placed or dropped in this run"):
        runner.secured("3099")


def test_pad_steps_without_a_pad_say_which_config_fits_one() -> None:
    runner = DeviceStepRunner(library_tag=TagMaker())
    for text in ("place 3010", "lift"):
        with pytest.raises(ScenarioError, match=r"^line 1: '(place|lift)' needs the RFID lending pad.*rfid_pad"):
            runner.run(parse_scenario(text))
    with pytest.raises(ScenarioError, match=r"^line 1: 'drop' needs a simulated device"):
        runner.run(parse_scenario("drop 3010:tag"))


def test_security_and_message_expectations_go_to_the_kiosk_core() -> None:
    handled: list[Step] = []
    runner, pad, _ = pad_runner(other=handled.append)
    steps = parse_scenario("expect secured 3010 off\nexpect message 3010 staff")
    runner.run(steps)
    assert handled == steps and pad.log == []
