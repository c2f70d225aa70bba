"""The hub's session token and loan titles in the kiosk core (issue 10, items 4 and 5):
the token of the right PIN goes on the session's online loans and renewals, never on
offline ones nor into the next reader's session; titles come from the PIN answer."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, CardPresented, CardRemoved
from firmware.core.config import CoreConfig
from firmware.core.effects import RecordTxn, SendRequest
from kiosk_tools.core_harness import CoreHarness
from tests.firmware.test_machine_borrow import BOOK, BOOK2, DUE, JOINT, UID

TOKEN = "s1.1772531400.1772532300." + "A" * 43
OTHER_TOKEN = "s1.1772532400.1772533300." + "B" * 43


def after_pin(token: str | None = TOKEN) -> CoreHarness:
    """A PIN card: the lookup lists a loan without its title, the right PIN brings it."""
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=True,
             loans=[{"item": BOOK2, "due": DUE}], items_left=5)  # fmt: skip
    assert k.state.reader is not None and k.state.reader.session_token is None
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True, attempts_left=5, session_token=token,
             loans=[{"item": BOOK2, "title": "平凡的世界 / 路遥 著", "due": DUE}], items_left=5)  # fmt: skip
    return k


def record(k: CoreHarness) -> RecordTxn:
    [effect] = [e for e in k.last if isinstance(e, RecordTxn)]
    return effect


def test_an_online_loan_carries_the_token_of_the_right_pin() -> None:
    k = after_pin()
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE, title="三体")
    assert (record(k).mode, record(k).session_token) == ("online", TOKEN)


def test_a_renewal_carries_the_token_and_shows_the_title_from_the_pin_answer() -> None:
    k = after_pin()
    k.feed(Press("renew"))
    assert [(i.barcode, i.title) for i in k.view.items] == [(BOOK2, "平凡的世界 / 路遥 著")]
    k.answer(allowed=True, due=datetime(2030, 3, 1, tzinfo=UTC))
    assert (record(k).kind, record(k).session_token) == ("renew", TOKEN)


def test_checkout_and_renew_requests_carry_the_token_so_the_hub_asks_a_library_system_only_inside_the_session() -> None:
    k = after_pin()
    [checkout] = [e.request for e in k.feed(BarcodeRead(BOOK)) if isinstance(e, SendRequest)]
    assert (checkout.op, checkout.session_token) == ("checkout_auth", TOKEN)
    k.answer(allowed=True, due=DUE, title="三体")
    renewals = [e.request for e in k.feed(Press("renew")) if isinstance(e, SendRequest)]
    assert [(r.op, r.session_token) for r in renewals][:1] == [("renew_auth", TOKEN)]


def test_an_offline_loan_carries_no_token() -> None:
    k = after_pin()
    k.feed(BarcodeRead(BOOK))
    k.time_out()
    assert (record(k).mode, record(k).session_token) == ("offline", None)


def test_the_next_session_never_reuses_the_last_token() -> None:
    """The same card again after logout, against a hub that sends no token this time."""
    k = after_pin()
    k.feed(Press("finish"), CardRemoved(uid=UID))
    assert k.state.reader is None
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    assert k.state.reader is not None and k.state.reader.session_token is None
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=True, loans=[])
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True, attempts_left=5)
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    assert record(k).session_token is None


def test_a_new_session_uses_its_own_token() -> None:
    k = after_pin()
    k.feed(Press("finish"), CardRemoved(uid=UID))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=True, loans=[])
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True, attempts_left=5, session_token=OTHER_TOKEN)
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    assert record(k).session_token == OTHER_TOKEN


def test_a_card_without_a_pin_takes_its_token_from_the_lookup() -> None:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=False, loans=[],
             session_token=TOKEN)  # fmt: skip
    k.feed(BarcodeRead(BOOK))
    k.answer(allowed=True, due=DUE)
    assert record(k).session_token == TOKEN
