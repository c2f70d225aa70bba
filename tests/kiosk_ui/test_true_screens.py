"""What the reader and the technician are shown, from the real core onto a real Kivy
window, in both languages, with screenshots kept in test-artifacts/screens/ (issue 20,
Done when): the return-only greeting, an offline session, and the self-test of the
simulated kiosk's devices with the technician's card on the reader."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from contract.barcodes import make_item_barcode
from contract.card_schemes import make_card_number
from contract.messages import Bilingual
from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.events import LinkChanged, SelfTestDone
from hal_sim.cards import library_card
from kiosk_tools.core_harness import CoreHarness
from kiosk_ui.i18n import Catalogue
from kiosk_ui.tech_words import known_phrase

pytestmark = pytest.mark.ui

UNIV = make_card_number("univ-public", 5)
JOINT = make_card_number("bj-joint", 1234)
STAFF = make_card_number("staff", 1)
NOT_HERE = Bilingual(zh="本馆不能用这种读者卡借书，但可以还书。",
                     en="This library cannot lend on this kind of card, but you can return books here.")


def card_data(number: str) -> bytes:
    card = library_card(number)
    return b"".join(card.block(block) for block in (8, 9, 10))


def shown(ui: Any) -> str:
    return "\n".join(ui.texts())


def both_languages(ui: Any, core: CoreHarness, name: str) -> dict[str, str]:
    """Show the core's view in Chinese, then press the language button: the words and
    a screenshot of each."""
    ui.show(core.view)
    words = {"zh": shown(ui)}
    ui.screenshot(f"{name}_zh")
    core.feed(Press("lang"))
    ui.show(core.view)
    words["en"] = shown(ui)
    ui.screenshot(f"{name}_en")
    return words


def test_the_return_only_greeting(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(LinkChanged(True), CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(UNIV)))
    core.answer(scheme="univ-public", state="valid", masked_name="赵*", pin_required=True)
    core.feed(PinEntered("123456"))
    core.answer(pin_ok=True, attempts_left=5, loans=[], items_left=3, allowed=False,
                reason_code="scheme_not_accepted", message=NOT_HERE)
    core.feed(BarcodeRead(make_item_barcode("0002", 1), "desk"))
    words = both_languages(ui, core, "true_returns_only")
    assert "赵*，您好！" in words["zh"] and NOT_HERE.zh in words["zh"]
    assert "还书：请把书逐本放入还书口" in words["zh"]
    assert "还可以借" not in words["zh"]
    assert NOT_HERE.en in words["en"] and "more" not in words["en"]


def test_an_offline_session(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(LinkChanged(False), CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(JOINT)))
    core.feed(BarcodeRead(make_item_barcode("0002", 1), "desk"))
    words = both_languages(ui, core, "true_offline_session")
    assert "暂时无法连接图书馆系统，还书照常" in words["zh"]
    assert "离线服务：还书照常，本次还可以借 2 本" in words["zh"]
    assert "您已借" not in words["zh"]  # the kiosk cannot know this reader's loans
    assert "you may borrow 2 more now" in words["en"] and "on loan" not in words["en"]


def test_an_offline_session_of_a_card_that_may_only_return_here(ui: Any) -> None:
    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(LinkChanged(False), CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(UNIV)))
    words = both_languages(ui, core, "true_offline_returns_only")
    assert "这张卡在本馆不能借书" in words["zh"] and "还可以借" not in words["zh"]
    assert "This card cannot borrow at this library" in words["en"]


def test_the_self_test_of_the_simulated_kiosk_in_both_languages(ui: Any) -> None:
    """The devices' own self-test (the simulator's hardware, the real drivers), with the
    technician's card lying on the reader as it does at the technician screen."""
    from firmware.config import load_config
    from firmware.devices import build_devices, summarise
    from kiosk_tools.simulated import sim_rig

    config = load_config()
    rig = sim_rig(config)
    devices = build_devices(config, rig.transports, queue.Queue().put)
    try:
        devices.start()
        devices.wait_ready(5.0)
        rig.tap(STAFF)
        results = tuple(summarise(devices.self_test()))
    finally:
        devices.close()
    for result in results:
        unknown = [p for p in result.detail.split("; ") if p and not known_phrase(p)]
        assert not unknown, f"{result.device}: phrases the screen cannot translate: {unknown}"

    core = CoreHarness(CoreConfig(library_id="capital"))
    core.feed(LinkChanged(True), CardPresented(uid=b"\x01\x02\x03\x04", data=card_data(STAFF)))
    core.answer(scheme="staff", state="valid", pin_required=True)
    core.feed(PinEntered("246810"))
    core.answer(pin_ok=True, attempts_left=5)
    core.feed(Press("selftest"), SelfTestDone(results))
    words = both_languages(ui, core, "true_selftest")
    zh = words["zh"]
    cat = Catalogue.load()
    for device in ("card_reader", "scanner", "chute_scanner", "chute", "flap", "status_led", "buzzer"):
        assert cat.text("zh", f"device.{device}") in zh
    assert "测试卡" in zh and "读取正常" in zh and "several cards" not in zh
    assert "[ok]" not in zh and "toggles" not in zh and "beam ok" not in zh
    assert "status_led" not in zh and "flap" not in zh
    assert "Sorting flap" in words["en"] and "test card" in words["en"]
