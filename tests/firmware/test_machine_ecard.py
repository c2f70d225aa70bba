"""A phone e-card scanned at the desk (issue 19 item 4): at the attract screen the QR
token logs its reader in through the hub as a tap with the PIN proven; the hub's
refusals end the visit with its words in both languages; and without the hub a token
logs nobody in (the kiosk cannot tell a genuine one)."""

from __future__ import annotations

from contract import ecard
from contract.messages import Bilingual, EcardLogin
from drivers.events import BarcodeRead
from firmware.core.config import CoreConfig
from firmware.core.effects import Beep, Log, SendRequest
from firmware.core.events import LinkChanged
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
SESSION = "s1.1741000000.1741000900.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
EXPIRED = Bilingual(zh="这个电子读者证二维码已过期，请在手机上刷新后再扫。", en="This e-card QR code has expired.")


def token(number: str = JOINT, kiosk: str = "k1") -> str:
    """A well-formed token (the kiosk never checks the MAC: the hub does)."""
    claims = ecard.EcardClaims("bj-joint", number, kiosk, 1741000000, 1741000060, "abcdefghijkl")
    return f"{ecard.payload_text(claims)}.{'A' * 22}"


def online() -> CoreHarness:
    k = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    k.feed(LinkChanged(True))
    return k


def logs(effects: tuple) -> list[Log]:
    return [e for e in effects if isinstance(e, Log)]


def test_a_qr_scan_at_the_attract_screen_logs_the_reader_in_without_a_pin() -> None:
    k = online()
    text = token()
    effects = k.feed(BarcodeRead(text))
    sent = [e for e in effects if isinstance(e, SendRequest)]
    assert len(sent) == 1 and sent[0].request == EcardLogin(op="ecard_login", token=text, library_id="capital")
    assert logs(effects) == [Log("info", "ecard.scan", {"scheme": "bj-joint", "card": "0101******345"})]
    assert k.view.screen == "attract" and k.state.lines == ()  # not a book
    effects = k.answer(scheme="bj-joint", state="valid", pin_required=False, allowed=True, items_left=5,
                       masked_name="王*明", loans=[], session_token=SESSION)  # fmt: skip
    assert k.view.screen == "borrow" and Beep("ok") in effects
    reader = k.state.reader
    assert reader is not None and reader.verified and reader.session_token == SESSION
    assert reader.card.number == JOINT and reader.masked_name == "王*明"


def test_a_refused_token_ends_the_visit_with_the_hubs_words() -> None:
    k = online()
    k.feed(BarcodeRead(token()))
    effects = k.answer(allowed=False, reason_code="ecard_expired", message=EXPIRED)
    assert (k.view.screen, k.state.reader) == ("attract", None)
    assert (k.view.notice, k.view.hub_message.zh, k.view.hub_message.en) == ("notice.ecard_refused", EXPIRED.zh, EXPIRED.en)
    assert Beep("error") in effects and logs(effects) == [Log("info", "ecard.refused", {"reason": "ecard_expired"})]


def test_without_the_hub_an_e_card_logs_nobody_in() -> None:
    k = online()
    k.feed(BarcodeRead(token()))
    k.time_out()  # no answer: no offline admission on a token's word
    assert (k.view.screen, k.state.reader, k.view.notice) == ("attract", None, "notice.ecard_needs_hub")
    k.feed(LinkChanged(False))
    effects = k.feed(BarcodeRead(token()))
    assert not any(isinstance(e, SendRequest) for e in effects)
    assert (k.state.reader, k.view.notice) == (None, "notice.ecard_needs_hub")


def test_a_broken_token_is_no_book_and_no_login() -> None:
    k = online()
    effects = k.feed(BarcodeRead("CLAEC1.not-a-token"))
    assert not any(isinstance(e, SendRequest) for e in effects)
    assert (k.view.notice, k.state.reader, k.state.lines) == ("notice.ecard_unreadable", None, ())


def test_an_e_card_during_another_readers_visit_asks_to_finish_first() -> None:
    k = online()
    k.feed(BarcodeRead(token()))
    k.answer(scheme="bj-joint", state="valid", pin_required=False, allowed=True, items_left=5, session_token=SESSION)
    session = k.state.session
    assert k.feed(BarcodeRead(token())) == ()  # the same reader again: the visit goes on
    k.feed(BarcodeRead(token("0101000067890")))
    assert (k.view.notice, k.state.session, k.view.screen) == ("notice.finish_first", session, "borrow")


def test_the_token_never_reaches_a_log_line() -> None:
    k = online()
    text = token()
    effects = k.feed(BarcodeRead(text)) + k.answer(allowed=False, reason_code="ecard_used", message=EXPIRED)
    assert all(text.split(".")[1] not in repr(e.fields) and JOINT not in repr(e.fields) for e in logs(effects))
