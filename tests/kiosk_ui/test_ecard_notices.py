"""What the screen says about a refused phone e-card (issue 19 item 4), in Chinese and
English: the hub's words for each refusal alone (not run together with the kiosk's own
line), and the kiosk's own words when the hub cannot be asked or the QR code is no
e-card."""

from __future__ import annotations

import dataclasses

import pytest

from contract import ecard
from contract.messages import Bilingual
from drivers.events import BarcodeRead
from firmware.core.config import CoreConfig
from firmware.core.events import LinkChanged
from hub.worker.refusals import HUB_REASONS
from kiosk_tools.core_harness import CoreHarness
from kiosk_ui.i18n import Catalogue
from kiosk_ui.present import notice_text

REFUSALS = ("ecard_invalid", "ecard_expired", "ecard_used", "ecard_foreign", "ecard_not_for_staff")


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load()


def scanned() -> CoreHarness:
    claims = ecard.EcardClaims("bj-joint", "0110000012341", "k1", 1741000000, 1741000060, "abcdefghijkl")
    core = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    core.feed(LinkChanged(True), BarcodeRead(f"{ecard.payload_text(claims)}.{'A' * 22}"))
    return core


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("code", REFUSALS)
def test_each_refusal_is_told_in_the_hubs_words_alone(cat: Catalogue, code: str, lang: str) -> None:
    zh, en = HUB_REASONS[code]
    core = scanned()
    core.answer(allowed=False, reason_code=code, message=Bilingual(zh=zh, en=en))
    view = dataclasses.replace(core.view, language=lang)
    assert (view.screen, view.notice) == ("attract", "notice.ecard_refused")
    assert notice_text(view, cat) == (zh if lang == "zh" else en)


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh", "电子读者证需要连接图书馆系统"), ("en", "A phone e-card needs the library network")],
)
def test_without_the_hub_the_kiosk_says_so_in_its_own_words(cat: Catalogue, lang: str, words: str) -> None:
    core = scanned()
    core.time_out()
    assert words in notice_text(dataclasses.replace(core.view, language=lang), cat)


def test_a_qr_code_that_is_no_e_card_is_told_so_in_both_languages(cat: Catalogue) -> None:
    core = CoreHarness(CoreConfig(kiosk_id="k1", library_id="capital"))
    core.feed(LinkChanged(True), BarcodeRead("CLAEC1.broken"))
    assert "不是图书馆电子读者证" in notice_text(core.view, cat)
    assert "not a library e-card" in notice_text(dataclasses.replace(core.view, language="en"), cat)
