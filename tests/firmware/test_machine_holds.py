"""The greeting names the reader's holds (ready on a hold shelf, or on their way) and the
loans the hub says fall due soon (issue 19 item 3); a held book lent in the session, a
loan renewed, leave those notes; the hub's refusal of a book reserved for someone else
is shown in its words."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.messages import Bilingual, HoldLine, LoanLine
from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, CardPresented
from firmware.core.config import CoreConfig
from firmware.view import DueNote, HoldNote, Text
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
UID = b"\x01\x02\x03\x04"
CAPITAL = Bilingual(zh="首都图书馆", en="Capital Library of China")
CHAOYANG = Bilingual(zh="朝阳区图书馆", en="Chaoyang District Library")
HELD_HERE = "30002000000224"
HELD_THERE = "30105000000225"
ON_ITS_WAY = "30108000000211"
SOON, LATER = "30002000000018", "30002000000026"
HOLDS = [
    HoldLine(item=ON_ITS_WAY, title="城记 / 王军 著", status="in_transit", pickup_library="chaoyang", pickup_library_name=CHAOYANG),
    HoldLine(item=HELD_THERE, title="美的历程 / 李泽厚 著", status="ready", pickup_library="chaoyang", pickup_library_name=CHAOYANG),
    HoldLine(item=HELD_HERE, title="乡土中国 / 费孝通 著", status="ready", pickup_library="capital", pickup_library_name=CAPITAL),
]
LOANS = [
    LoanLine(item=LATER, title="活着 / 余华 著", due=datetime(2030, 2, 1, 15, 59, tzinfo=UTC)),
    LoanLine(item=SOON, title="三体 / 刘慈欣 著", due=datetime(2030, 1, 3, 15, 59, tzinfo=UTC)),
]


def kiosk() -> CoreHarness:
    return CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))


def greeted_after_pin(**fields: object) -> CoreHarness:
    """A reader whose scheme needs a PIN: the lookup says nothing of them, the right PIN
    brings the loans, holds and loans due soon."""
    k = kiosk()
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", pin_required=True)
    assert k.view.holds == () and k.view.due_soon == ()  # nothing before the PIN
    k.feed(PinEntered("123456"))
    answer = {"pin_ok": True, "masked_name": "王*明", "loans": LOANS, "items_left": 3, "session_token": "t" * 24}
    k.answer(**{**answer, **fields})
    assert k.view.screen == "borrow"
    return k


def test_the_greeting_names_holds_ready_here_first_then_ready_elsewhere_then_in_transit() -> None:
    k = greeted_after_pin(holds=HOLDS, due_soon=[SOON])
    assert k.view.holds == (
        HoldNote(HELD_HERE, "乡土中国 / 费孝通 著", "ready", "capital", Text("首都图书馆", "Capital Library of China"), here=True),
        HoldNote(HELD_THERE, "美的历程 / 李泽厚 著", "ready", "chaoyang", Text("朝阳区图书馆", "Chaoyang District Library")),
        HoldNote(ON_ITS_WAY, "城记 / 王军 著", "in_transit", "chaoyang", Text("朝阳区图书馆", "Chaoyang District Library")),
    )


def test_the_greeting_names_the_loans_the_hub_says_are_due_soon_with_title_and_date() -> None:
    k = greeted_after_pin(holds=[], due_soon=[SOON])
    assert k.view.due_soon == (DueNote(SOON, "三体 / 刘慈欣 著", "2030-01-03"),)


def test_a_hub_that_says_nothing_of_holds_gives_no_notes() -> None:
    k = greeted_after_pin()
    assert (k.view.holds, k.view.due_soon) == ((), ())


def test_the_held_book_lent_here_leaves_the_holds_and_another_readers_hold_is_refused_in_the_hubs_words() -> None:
    k = greeted_after_pin(holds=HOLDS)
    k.feed(BarcodeRead(HELD_HERE))
    k.answer(allowed=True, due=datetime(2030, 2, 3, 15, 59, tzinfo=UTC), title="乡土中国 / 费孝通 著", items_left=2)
    assert [n.barcode for n in k.view.holds] == [HELD_THERE, ON_ITS_WAY]
    reserved = Bilingual(zh="这本书已经为别的读者预约保留，现在不能借。", en="This book is reserved for another reader and cannot be borrowed now.")
    k.feed(BarcodeRead("30002000000216"))
    k.answer(allowed=False, reason_code="item_on_hold", message=reserved, title="推拿 / 毕飞宇 著")
    line = k.view.items[-1]
    assert (line.status, line.reason_code) == ("refused", "item_on_hold")
    assert line.message == Text(reserved.zh, reserved.en)  # the title on a refused line: issue 19 item 1


def test_a_loan_renewed_in_the_session_is_no_longer_named_due_soon() -> None:
    k = greeted_after_pin(due_soon=[SOON])
    k.feed(Press("renew"))
    k.answer(allowed=True, due=datetime(2030, 2, 5, 15, 59, tzinfo=UTC))  # LATER's renewal first (loans' order)
    assert [n.barcode for n in k.view.due_soon] == [SOON]
    k.answer(allowed=True, due=datetime(2030, 2, 5, 15, 59, tzinfo=UTC))
    assert k.view.due_soon == ()


def test_the_notes_end_with_the_session() -> None:
    k = greeted_after_pin(holds=HOLDS, due_soon=[SOON])
    k.feed(Press("finish"))
    k.feed(Press("finish"))
    assert k.view.screen == "attract" and (k.view.holds, k.view.due_soon) == ((), ())
