"""Book security in the core's flows: the order of the switch effects is the contract
(issue 18). A loan's UnsecureItem after its RecordTxn; no switch for a refused book or
an unjournalled loan; a return's SecureItem before its SetDiverter; a failed switch
told to the reader by name and recorded. Without a unit no security effect at all."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from contract.barcodes import make_item_barcode
from drivers.events import BarcodeRead, BookEntered, BookPassed, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.effects import (
    CallStaff,
    Effect,
    Log,
    RecordTxn,
    SecureItem,
    SetDiverter,
    UnsecureItem,
)
from firmware.core.events import JournalFailed, LinkChanged, SecurityFailed
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
BOOK = make_item_barcode("0002", 1)
XICHENG = make_item_barcode("0102", 9)
DUE = datetime(2030, 2, 1, 12, tzinfo=UTC)
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})
SECURED = CoreConfig(kiosk_id="k1", library_id="capital", institution_members=MEMBERS, security=True)


def greeted(config: CoreConfig = SECURED) -> CoreHarness:
    k = CoreHarness(config)
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=False,
             loans=[], items_left=5)
    return k


def kinds(effects: tuple[Effect, ...]) -> list[type]:
    return [type(e) for e in effects]


def test_a_loan_unsecures_only_after_its_journal_row() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE, title="三体", items_left=4)
    order = kinds(effects)
    assert order.index(RecordTxn) < order.index(UnsecureItem)
    [unsecure] = [e for e in effects if isinstance(e, UnsecureItem)]
    assert (unsecure.item, unsecure.title) == (BOOK, "三体")


def test_an_offline_loan_unsecures_after_its_journal_row_too() -> None:
    k = greeted()
    k.feed(LinkChanged(False))
    effects = k.feed(BarcodeRead(BOOK))
    order = kinds(effects)
    assert RecordTxn in order, effects
    assert order.index(RecordTxn) < order.index(UnsecureItem)


def test_a_refused_book_stays_secured() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=False, reason_code="not_for_loan")
    assert not [e for e in effects if isinstance(e, (UnsecureItem, SecureItem))]


def test_a_broken_journal_lends_nothing_and_unsecures_nothing() -> None:
    k = greeted()
    k.feed(JournalFailed("journal-io", "EIO"))
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE, title="三体")
    assert not [e for e in effects if isinstance(e, (RecordTxn, UnsecureItem))]



def test_a_return_secures_before_the_book_is_routed() -> None:
    k = CoreHarness(SECURED)
    k.feed(BookEntered(1.0), BarcodeRead(XICHENG, source="chute"))
    k.answer(route="transfer", route_library="xicheng")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    order = kinds(effects)
    assert order.index(SecureItem) < order.index(SetDiverter)
    assert SecureItem(XICHENG) in effects


def test_a_refused_return_is_secured_before_it_is_held() -> None:
    k = CoreHarness(SECURED)
    k.feed(BookEntered(1.0), BarcodeRead(XICHENG, source="chute"))
    k.answer(allowed=False, reason_code="not_ours")
    effects = k.feed(BookPassed(at=2.0, transit_ms=300))
    order = kinds(effects)
    assert order.index(SecureItem) < order.index(SetDiverter)


def test_a_failed_unsecure_names_the_book_to_the_reader_and_is_recorded() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE, title="三体")
    [unsecure] = [e for e in effects if isinstance(e, UnsecureItem)]
    effects = k.feed(SecurityFailed(BOOK, "security-no-answer", False, unsecure.line_n, unsecure.title))
    [line] = k.view.items
    assert line.status == "loaned"  # the loan stands: it is journalled
    assert line.message is not None and "三体" in line.message.zh and "三体" in line.message.en
    assert "服务台" in line.message.zh and "see staff before leaving" in line.message.en
    assert k.view.hub_message == line.message  # and as the screen's notice
    [log] = [e for e in effects if isinstance(e, Log)]
    assert (log.level, log.fields["code"], log.fields["item"]) == ("error", "security-no-answer", BOOK)
    assert CallStaff("security-unsecure-failed") in effects
    assert f"security:security-no-answer:{BOOK}" in k.state.service.recent_faults


def test_a_failed_unsecure_of_an_untitled_book_names_its_barcode() -> None:
    k = greeted()
    k.feed(BarcodeRead(BOOK))
    effects = k.answer(allowed=True, due=DUE)
    [unsecure] = [e for e in effects if isinstance(e, UnsecureItem)]
    k.feed(SecurityFailed(BOOK, "security-refused", False, unsecure.line_n, ""))
    [line] = k.view.items
    assert line.message is not None and BOOK in line.message.en and BOOK in line.message.zh
    assert f"《{BOOK}》" not in line.message.zh  # title marks go round a title, not a barcode


def test_a_failed_secure_at_a_return_goes_to_staff_not_to_the_reader() -> None:
    k = CoreHarness(SECURED)
    effects = k.feed(SecurityFailed(XICHENG, "security-no-answer", True))
    assert CallStaff("security-secure-failed") in effects
    assert k.view.hub_message is None


def test_without_a_unit_no_security_effect_is_made() -> None:
    k = greeted(CoreConfig(kiosk_id="k1", library_id="capital", institution_members=MEMBERS))
    k.feed(BarcodeRead(BOOK))
    loan = k.answer(allowed=True, due=DUE)
    k.feed(BookEntered(1.0), BarcodeRead(XICHENG, source="chute"))
    k.answer(route="transfer", route_library="xicheng")
    ret = k.feed(BookPassed(at=2.0, transit_ms=300))
    assert not [e for e in (*loan, *ret) if isinstance(e, (SecureItem, UnsecureItem))]
    assert RecordTxn in kinds(loan) and SetDiverter in kinds(ret)


