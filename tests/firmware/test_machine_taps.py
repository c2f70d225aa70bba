"""A card laid on the reader, in full: what the kiosk says, the sound, and the log line
(never the whole card number), online and when the hub does not answer."""

from __future__ import annotations

from contract.screens import PinEntered
from drivers.events import CardPresented
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, Log, SendRequest
from firmware.core.events import JournalFailed, LinkChanged
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
OTHER = "0101000067890"
STAFF = "88000000011"
UID = b"\x01\x02\x03\x04"


def logs(effects: tuple) -> list[Log]:
    return [e for e in effects if isinstance(e, Log)]


def tap(k: CoreHarness, number: str = JOINT, uid: bytes = UID) -> tuple:
    return k.feed(CardPresented(uid=uid, data=number.encode()))


def online() -> CoreHarness:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(LinkChanged(True))
    return k


def test_a_tap_logs_the_scheme_and_the_masked_number_and_greeting_logs_the_session() -> None:
    k = online()
    effects = tap(k)
    assert logs(effects) == [Log("info", "card.tap", {"scheme": "bj-joint", "card": "0101******345"})]
    assert any(isinstance(e, SendRequest) for e in effects)
    effects = k.answer(state="valid", pin_required=False, items_left=5)
    assert Beep("ok") in effects
    assert logs(effects) == [Log("info", "session.start",
                                 {"scheme": "bj-joint", "card": "0101******345", "offline": False})]


def test_an_unreadable_card_and_a_card_of_no_library_are_refused_at_the_reader() -> None:
    k = online()
    effects = k.feed(CardPresented(uid=UID, data=b"\xff\xfe"))
    assert effects == (Beep("error"), Log("info", "card.unreadable", {}))
    assert k.view.notice == "notice.card_unreadable"
    effects = tap(k, "ZZ99", uid=b"\x05\x05\x05\x05")
    assert k.state.reader is None
    effects = tap(k, "7777777777777", uid=b"\x06\x06\x06\x06")
    assert effects == (Beep("error"), Log("info", "card.not_library", {}))
    assert (k.view.notice, k.state.reader) == ("notice.card_not_library", None)


def test_another_card_during_a_visit_asks_to_finish_first_and_the_same_card_goes_on() -> None:
    k = online()
    tap(k)
    k.answer(state="valid", pin_required=False, items_left=5)
    session = k.state.session
    assert tap(k, OTHER, uid=b"\x07\x07\x07\x07") == (Beep("warn"),)
    assert k.view.notice == "notice.finish_first"
    assert tap(k) == ()
    assert (k.state.session, k.state.reader.card.number) == (session, JOINT)  # type: ignore[union-attr]


def test_a_tap_while_the_lookup_is_in_flight_is_not_a_second_lookup() -> None:
    k = online()
    tap(k)
    assert tap(k, OTHER, uid=b"\x07\x07\x07\x07") == ()
    assert k.state.card_uid == b"\x07\x07\x07\x07"


def test_each_new_visit_counts_one_more_session() -> None:
    k = online()
    first = k.state.session
    tap(k)
    assert k.state.session == first + 1
    k.answer(state="valid", pin_required=False)
    k.feed(CardPresented(uid=UID, data=JOINT.encode()))
    assert k.state.session == first + 1


# ---- the hub not answering ----


def test_an_unanswered_lookup_greets_offline_with_the_offline_limit() -> None:
    k = online()
    tap(k)
    effects = k.time_out()
    assert logs(effects) == [
        Log("info", "hub.timeout", {"op": "lookup"}),
        Log("info", "session.start", {"scheme": "bj-joint", "card": "0101******345", "offline": True}),
    ]
    assert (k.view.screen, k.view.notice) == ("borrow", "notice.offline_reader")
    assert k.view.notice_args == (("max_items", "3"),)
    reader = k.state.reader
    assert reader is not None and reader.offline and reader.verified
    assert (reader.masked_name, reader.loans, reader.loans_known) == (None, (), False)


def test_an_unanswered_staff_lookup_is_refused_the_staff_card_needs_the_hub() -> None:
    k = online()
    tap(k, STAFF)
    effects = k.time_out()
    assert Beep("error") in effects
    assert Log("info", "card.staff_offline", {}) in effects
    assert (k.view.screen, k.view.notice, k.state.reader) == ("attract", "notice.staff_needs_hub", None)


def test_an_unanswered_lookup_without_offline_loans_refuses_the_visit() -> None:
    k = CoreHarness(CoreConfig(offline_loans_allowed=False))
    k.feed(LinkChanged(True))
    tap(k)
    effects = k.time_out()
    assert Beep("error") in effects
    assert Log("info", "card.offline_refused", {}) in effects
    assert (k.view.screen, k.view.notice, k.state.reader) == ("attract", "notice.offline_no_loans", None)


def test_an_unanswered_lookup_on_a_kiosk_out_of_service_greets_no_one() -> None:
    k = online()
    tap(k)
    k.feed(JournalFailed(code="journal-io", detail=""))
    assert k.time_out() == (Log("info", "hub.timeout", {"op": "lookup"}),)
    assert k.state.reader is None


def test_an_unanswered_pin_check_greets_offline_too() -> None:
    k = online()
    tap(k)
    k.answer(state="valid", pin_required=True)
    k.feed(PinEntered("135790"))
    k.time_out()
    assert (k.view.screen, k.view.notice) == ("borrow", "notice.offline_reader")


def test_a_pin_of_the_wrong_length_or_with_letters_is_not_sent() -> None:
    k = online()
    tap(k)
    k.answer(state="valid", pin_required=True)
    for pin in ("123", "123456789", "12a4"):
        assert k.feed(PinEntered(pin)) == (Beep("error"),), pin
        assert k.view.notice == "notice.pin_format"
    for pin in ("1234", "12345678"):
        k2 = online()
        tap(k2)
        k2.answer(state="valid", pin_required=True)
        assert any(isinstance(e, SendRequest) for e in k2.feed(PinEntered(pin))), pin
        assert k2.feed(PinEntered(pin)) == ()  # the check is in flight already
