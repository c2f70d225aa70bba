"""Card tap, lookup, PIN, greeting, refusals, staff cards, help and language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contract.messages import Bilingual, LoanLine, PinCheck, ReaderLookup
from contract.screens import PinEntered, Press
from drivers.events import CardPresented, CardRemoved, MultipleCards
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, CallStaff, Log, SendRequest
from firmware.core.identify import mask
from firmware.view import Text
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
STAFF = "88000000011"


def card(number: str) -> CardPresented:
    return CardPresented(uid=b"\x01\x02\x03\x04", data=number.encode().ljust(48, b"\x00"))


def kiosk() -> CoreHarness:
    return CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))


def greeted(pin: bool = False) -> CoreHarness:
    k = kiosk()
    k.feed(card(JOINT))
    loans = [LoanLine(item="30002000000014", title="Old book", due=datetime(2030, 1, 1, tzinfo=UTC))]
    k.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=pin,
             loans=loans, items_left=9)
    return k


def test_tap_sends_reader_lookup_and_holds_input() -> None:
    k = kiosk()
    effects = k.feed(card(JOINT))
    request = next(e for e in effects if isinstance(e, SendRequest)).request
    assert isinstance(request, ReaderLookup)
    assert request.card.scheme == "bj-joint" and request.card.number == JOINT
    assert request.library_id == "capital"
    assert k.view.busy is True
    assert k.view.screen == "attract"


def test_card_number_is_read_with_spaces_and_nuls_stripped() -> None:
    k = kiosk()
    k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=b"  " + JOINT.encode() + b"\x00\x00  "))
    assert k.last_request().request.card.number == JOINT


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00", b"abc", b"0101 0000 12345"])
def test_unreadable_card_data_shows_card_unreadable(data: bytes) -> None:
    k = kiosk()
    effects = k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=data))
    assert k.view.notice == "notice.card_unreadable"
    assert Beep("error") in effects
    assert not any(isinstance(e, SendRequest) for e in effects)


def test_card_of_no_known_scheme_is_not_a_library_card() -> None:
    k = kiosk()
    k.feed(card("123456789"))
    assert k.view.notice == "notice.card_not_library"
    assert not k.state.pending


def test_scheme_lookup_is_injected_through_config() -> None:
    k = CoreHarness(CoreConfig(identify_scheme=lambda number: "test-scheme"))
    k.feed(card("ABC123456"))
    assert k.last_request().request.card.scheme == "test-scheme"


def test_valid_card_without_pin_greets_on_borrow_screen() -> None:
    k = greeted()
    view = k.view
    assert view.screen == "borrow"
    assert view.reader_name == "王*明"
    assert view.reader_loans == 1
    assert view.items_left == 9
    assert view.busy is False
    assert Beep("ok") in k.last


def test_valid_card_with_pin_goes_to_pin_screen() -> None:
    k = greeted(pin=True)
    assert k.view.screen == "pin"
    assert k.view.reader_name is None  # not before the PIN


@pytest.mark.parametrize("state", ["expired", "blocked", "unknown"])
def test_refused_card_shows_hub_message_on_attract(state: str) -> None:
    k = kiosk()
    k.feed(card(JOINT))
    effects = k.answer(state=state, message=Bilingual(zh="证已过期", en="Card expired"))
    view = k.view
    assert view.screen == "attract"
    assert view.notice == "notice.card_refused"
    assert view.hub_message == Text("证已过期", "Card expired")
    assert Beep("error") in effects
    assert k.state.reader is None


def test_refused_card_without_hub_message_gets_local_bilingual_message() -> None:
    k = kiosk()
    k.feed(card(JOINT))
    k.answer(state="blocked")
    assert k.view.hub_message is not None and k.view.hub_message.en


def test_lookup_error_answer_asks_to_try_again() -> None:
    k = kiosk()
    k.feed(card(JOINT))
    k.answer(ok=False, error="db down")
    assert k.view.notice == "notice.try_again"
    assert k.view.screen == "attract"


def test_multiple_cards_ask_for_one_card_at_a_time() -> None:
    k = kiosk()
    k.feed(MultipleCards(2))
    assert k.view.notice == "notice.one_card_at_a_time"


def test_several_cards_during_a_session_get_the_one_message_and_end_nothing() -> None:
    """Cards laid on the reader beside the reader's own: one notice, one warning beep,
    nothing asked of the hub, and the session (the list, the reader) goes on. Once the
    others are lifted the reader's own card is presented alone, and the message goes."""
    k = greeted()
    assert k.feed(MultipleCards(3)) == (Beep("warn"),)
    assert (k.view.screen, k.view.notice, k.view.notice_args) == ("borrow", "notice.one_card_at_a_time", ())
    assert k.state.reader is not None and k.state.reader.verified
    assert k.feed(card(JOINT)) == ()
    assert (k.view.screen, k.view.notice) == ("borrow", None)  # solved: the message goes


def test_second_tap_while_lookup_in_flight_sends_nothing() -> None:
    k = kiosk()
    k.feed(card(JOINT))
    effects = k.feed(card(JOINT))
    assert not any(isinstance(e, SendRequest) for e in effects)


def test_pin_entered_sends_pin_check() -> None:
    k = greeted(pin=True)
    effects = k.feed(PinEntered("123456"))
    request = next(e for e in effects if isinstance(e, SendRequest)).request
    assert isinstance(request, PinCheck) and request.pin == "123456"
    assert k.view.busy


def test_pin_ok_greets_reader() -> None:
    k = greeted(pin=True)
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True)
    assert k.view.screen == "borrow"
    assert k.view.reader_name == "王*明"


def test_the_greeting_after_the_pin_shows_the_name_and_loans_the_right_pins_answer_brought() -> None:
    """The hub's lookup says nothing of the reader before the PIN (issue 16 item 7)."""
    k = kiosk()
    k.feed(card(JOINT))
    k.answer(state="valid", scheme="bj-joint", pin_required=True, allowed=True)
    assert k.view.screen == "pin" and k.view.reader_name is None
    k.feed(PinEntered("123456"))
    loans = [LoanLine(item="30002000000014", title="Old book", due=datetime(2030, 1, 1, tzinfo=UTC))]
    k.answer(pin_ok=True, masked_name="王*明", loans=loans, items_left=4, session_token="t" * 40)
    assert (k.view.screen, k.view.reader_name, k.view.reader_loans, k.view.items_left) == ("borrow", "王*明", 1, 4)


def test_a_lookup_the_hub_paused_is_refused_and_never_admitted_offline() -> None:
    k = kiosk()
    k.feed(card(JOINT))
    k.answer(ok=False, error="card_checks_paused")
    assert (k.view.screen, k.view.notice, k.state.reader) == ("attract", "notice.try_again", None)


def test_wrong_pin_shows_attempts_left_once() -> None:
    """The count is the PIN screen's own line; the notice says only that it was wrong."""
    k = greeted(pin=True)
    k.feed(PinEntered("000000"))
    effects = k.answer(pin_ok=False, attempts_left=3)
    assert k.view.screen == "pin"
    assert k.view.notice == "notice.pin_wrong"
    assert k.view.notice_args == ()
    assert k.view.pin_attempts_left == 3
    assert Beep("error") in effects


@pytest.mark.parametrize("fields", [
    {"attempts_left": 0},
    {"attempts_left": None, "locked_until": datetime(2030, 1, 1, tzinfo=UTC)},
])
def test_locked_pin_returns_to_attract(fields: dict) -> None:
    k = greeted(pin=True)
    k.feed(PinEntered("000000"))
    k.answer(pin_ok=False, **fields)
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.pin_locked"
    assert k.state.reader is None


def test_a_lock_only_staff_can_lift_shows_the_hubs_words() -> None:
    k = greeted(pin=True)
    k.feed(PinEntered("000000"))
    words = Bilingual(zh="请到服务台解锁。", en="Please ask at the service desk to unlock it.")
    k.answer(pin_ok=False, attempts_left=0, reason_code="pin_locked_staff", message=words)
    assert (k.view.screen, k.view.notice) == ("attract", "notice.pin_locked")
    assert k.view.hub_message == Text(words.zh, words.en)


def test_badly_formed_pin_is_not_sent() -> None:
    k = greeted(pin=True)
    effects = k.feed(PinEntered("12"))
    assert k.view.notice == "notice.pin_format"
    assert not any(isinstance(e, SendRequest) for e in effects)


def test_cancel_on_pin_screen_returns_to_attract() -> None:
    k = greeted(pin=True)
    k.feed(Press("cancel"))
    assert k.view.screen == "attract"
    assert k.state.reader is None


def test_late_pin_answer_after_cancel_is_ignored() -> None:
    k = greeted(pin=True)
    k.feed(PinEntered("123456"), Press("cancel"))
    k.answer(pin_ok=True)
    assert k.view.screen == "attract"


def test_staff_card_always_needs_pin_then_shows_technician_screen() -> None:
    k = kiosk()
    k.feed(card(STAFF))
    assert k.last_request().request.card.scheme == "staff"
    k.answer(state="valid", scheme="staff", pin_required=False)
    assert k.view.screen == "pin"
    k.feed(PinEntered("2468"))
    k.answer(pin_ok=True)
    assert k.view.screen == "technician"
    assert k.view.technician is not None
    assert k.view.reader_name is None


def test_card_removed_during_borrow_keeps_the_session() -> None:
    k = greeted()
    k.feed(CardRemoved(uid=b"\x01\x02\x03\x04"))
    assert k.view.screen == "borrow"
    assert k.state.reader is not None


def test_same_card_tapped_again_during_session_changes_nothing() -> None:
    k = greeted()
    effects = k.feed(card(JOINT))
    assert k.view.screen == "borrow"
    assert not any(isinstance(e, SendRequest) for e in effects)


def test_other_card_during_session_asks_to_finish_first() -> None:
    k = greeted()
    k.feed(card("0101000099999"))
    assert k.view.notice == "notice.finish_first"
    assert k.state.reader is not None and k.state.reader.card.number == JOINT


def test_help_calls_staff_and_cancel_goes_back() -> None:
    k = greeted()
    effects = k.feed(Press("help"))
    assert k.view.screen == "help"
    assert CallStaff("help") in effects
    assert any(isinstance(e, Log) and e.event == "help.requested" for e in effects)
    k.feed(Press("cancel"))
    assert k.view.screen == "borrow"


def test_lang_toggles_language_and_session_end_restores_default() -> None:
    k = greeted()
    assert k.view.language == "zh"
    k.feed(Press("lang"))
    assert k.view.language == "en"
    k.feed(Press("lang"))
    assert k.view.language == "zh"
    k.feed(Press("lang"), Press("finish"), CardRemoved(uid=b"\x01\x02\x03\x04"))
    assert k.view.screen == "attract"
    assert k.view.language == "zh"


def test_default_language_comes_from_config() -> None:
    k = CoreHarness(CoreConfig(default_language="en"))
    assert k.view.language == "en"


def test_logs_never_hold_the_whole_card_number() -> None:
    k = greeted(pin=True)
    k.feed(PinEntered("123456"))
    k.answer(pin_ok=True)
    for effect in k.effects:
        if isinstance(effect, Log):
            assert JOINT not in repr(effect.fields)
    assert mask(JOINT) == "0101******345"
