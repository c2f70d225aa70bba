"""The message catalogue: both languages complete, every key the core and the view
contract use is present, and the wording rules pick the right words."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from firmware.view import ItemLine, Text
from kiosk_ui.i18n import LANGUAGES, Catalogue
from kiosk_ui.present import format_due, item_detail, status_key
from kiosk_ui.samples import sample_views

ITEM_STATUSES = ("checking", "loaned", "refused", "renewed", "returned", "offline_loaned")
ROUTES = ("shelve", "transfer", "hold")
HUB_LINKS = ("online", "offline", "connecting")
DEVICES = ("card_reader", "scanner", "chute")


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load()


def test_zh_and_en_catalogues_hold_the_same_keys(cat: Catalogue) -> None:
    assert cat.keys("zh") == cat.keys("en")
    assert len(cat.keys("zh")) > 80
    for lang in LANGUAGES:
        assert all(cat.messages[lang].values()), f"empty message in {lang}"


def test_every_status_route_link_and_device_has_words(cat: Catalogue) -> None:
    needed = (
        [f"status.{s}" for s in ITEM_STATUSES]
        + [f"route.{r}" for r in ROUTES]
        + [f"hub_link.{h}" for h in HUB_LINKS]
        + [f"device.{d}" for d in DEVICES]
        + ["reason.other", "banner.offline", "countdown"]
    )
    for lang in LANGUAGES:
        missing = [key for key in needed if not cat.has(key, lang)]
        assert not missing, f"{lang} lacks {missing}"


def test_every_key_the_samples_use_is_in_the_catalogue(cat: Catalogue) -> None:
    for view in sample_views().values():
        if view.notice:
            assert cat.has(view.notice)
        for item in view.items:
            if item.reason_code and item.message is None:
                assert cat.has(f"reason.{item.reason_code}")


def test_every_notice_status_and_reason_key_of_the_core_is_in_both_catalogues(
    cat: Catalogue,
) -> None:
    from firmware.core import catalogue_keys

    keys = set(catalogue_keys.NOTICE_KEYS)
    assert keys, "firmware.core.catalogue_keys defines no NOTICE_KEYS"
    keys |= {f"status.{s}" for s in catalogue_keys.ITEM_STATUSES}
    keys |= {f"reason.{code}" for code in catalogue_keys.LOCAL_REASONS}
    for lang in LANGUAGES:
        missing = sorted(k for k in keys if not cat.has(k, lang))
        assert not missing, f"kiosk_ui/locale/{lang} lacks {missing}"


def test_every_reason_code_the_hub_gives_has_words_of_our_own(cat: Catalogue) -> None:
    """Refusals normally carry the hub's words; ours are the fallback if one does not."""
    from hub.rules import rules
    from hub.worker import refusals

    codes = set(rules.REASONS) | set(refusals.HUB_REASONS)
    for lang in LANGUAGES:
        missing = sorted(c for c in codes if not cat.has(f"reason.{c}", lang))
        assert not missing, f"kiosk_ui/locale/{lang} lacks reasons {missing}"


def test_notice_placeholders_match_the_cores_glosses(cat: Catalogue) -> None:
    import string

    from firmware.core import catalogue_keys

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for key, gloss in catalogue_keys.NOTICE_KEYS.items():
        for lang in LANGUAGES:
            assert fields(cat.text(lang, key)) == fields(gloss), (lang, key)


def test_due_dates_are_written_the_way_readers_write_them() -> None:
    assert format_due("2025-04-12", "zh") == "2025年4月12日"
    assert format_due("2025-04-12", "en") == "12 April 2025"


def test_the_hubs_own_refusal_words_win_over_the_code(cat: Catalogue) -> None:
    item = ItemLine("1", "t", "refused", reason_code="item_on_hold", message=Text("甲", "A"))
    assert item_detail(item, "zh", cat) == "甲"
    assert item_detail(item, "en", cat) == "A"
    unknown = ItemLine("1", "t", "refused", reason_code="martian")
    assert item_detail(unknown, "en", cat) == cat.text("en", "reason.other")


def test_a_refused_renewal_or_return_is_not_badged_not_borrowed(cat: Catalogue) -> None:
    words = {
        kind: [cat.text(lang, status_key(ItemLine("1", "t", "refused", kind=kind))) for lang in LANGUAGES]
        for kind in ("loan", "renew", "return")
    }
    assert words == {"loan": ["不能借", "Not borrowed"], "renew": ["不能续借", "Not renewed"],
                     "return": ["交工作人员", "For staff"]}


def test_a_transfer_names_the_library_in_the_readers_language(cat: Catalogue) -> None:
    item = ItemLine(
        "1", "t", "returned", route="transfer", route_library="xicheng",
        route_library_name=Text("西城区图书馆", "Xicheng District Library"),
    )
    assert item_detail(item, "zh", cat) == "送回西城区图书馆"
    assert item_detail(item, "en", cat) == "Goes back to Xicheng District Library"


def test_importing_kiosk_ui_loads_no_kivy_and_opens_no_window() -> None:
    code = "import sys, kiosk_ui, kiosk_ui.samples, kiosk_ui.receipt; assert 'kivy' not in sys.modules"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=".")


def test_every_fault_hint_and_output_device_has_words_in_both_languages(cat: Catalogue) -> None:
    """The technician screen shows hints in its language; the English ones are the
    drivers' own (so the two cannot drift)."""
    from drivers.diagnostics import FAULT_HINTS

    for code, hint in FAULT_HINTS.items():
        if code == "ok":
            continue
        assert cat.has(f"hint.{code}", "zh") and cat.text("en", f"hint.{code}") == hint, code
        assert cat.text("zh", f"hint.{code}") != hint, f"hint.{code} is not translated"
    for device in ("flap", "status_led", "buzzer", "chute_scanner", "printer", "security", "kiosk"):
        assert cat.has(f"device.{device}", "zh") and cat.has(f"device.{device}", "en")


@pytest.mark.parametrize(("detail", "zh"), [
    ("version register 0x92; antenna on; test card 51417d67 read",
     "版本寄存器 0x92；天线已开启；测试卡 51417d67 读取正常"),
    ("version register reads 0x00", "版本寄存器读数 0x00"),
    ("firmware version reads 0x00", "固件版本读数 0x00"),
    ("no RX or timer interrupt within the safety limit", "在安全时限内没有接收或定时器中断"),
    ("version register 0x40; antenna on; test card 51417d67 read",
     "版本寄存器 0x40；天线已开启；测试卡 51417d67 读取正常"),
    ("entry beam ok; exit beam ok", "入口光束正常；出口光束正常"),
    ("entry beam reads blocked", "入口光束一直被挡住"),
    ("toggles", "开关正常"),
    ("no test card in the field; card read not tested", "读卡区没有测试卡；未测试读卡"),
    ("serial /tmp/x/desk-scanner: absent (cannot open /tmp/x/desk-scanner: [Errno 2] could not open "
     "port /tmp/x/desk-scanner: [Errno 2] No such file or directory: '/tmp/x/desk-scanner')",
     "串口 /tmp/x/desk-scanner：不存在（无法打开 /tmp/x/desk-scanner：设备文件不存在（ENOENT））"),
    ("hid /dev/input/by-id/usb-chute-event-kbd opens", "USB 键盘口 /dev/input/by-id/usb-chute-event-kbd 可以打开"),
    ("serial /dev/ttyUSB0: paper end (status 0x72)", "串口 /dev/ttyUSB0：纸已用完（状态 0x72）"),
    ("network 10.0.0.5:9100 answers; paper low", "网络 10.0.0.5:9100 有应答；纸快用完了"),
])
def test_self_test_lines_are_written_in_chinese(cat: Catalogue, detail: str, zh: str) -> None:
    from kiosk_ui.tech_words import detail_text

    assert detail_text(detail, "zh", cat) == zh


def test_an_unknown_self_test_phrase_is_shown_as_it_is(cat: Catalogue) -> None:
    from kiosk_ui.tech_words import detail_text

    assert detail_text("antenna on; something new happened", "zh", cat) == "天线已开启；something new happened"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_lost_card_is_told_one_message_the_hubs(cat: Catalogue, lang: str) -> None:
    """Not "this card cannot be used here" run together with the reason: only the reason."""
    from contract.messages import Bilingual
    from drivers.events import CardPresented
    from firmware.core.events import LinkChanged
    from kiosk_tools.core_harness import CoreHarness
    from kiosk_ui.present import notice_text

    lost = Bilingual(zh="这张卡已经挂失，不能使用。请到服务台办理。",
                     en="This card has been reported lost and cannot be used. Please go to the service desk.")
    core = CoreHarness()
    core.feed(LinkChanged(True), CardPresented(uid=b"\x01\x02\x03\x04", data=b"0110000012341"))
    core.answer(scheme="bj-joint", state="blocked", allowed=False, reason_code="card_blocked_lost",
                message=lost)
    view = dataclasses.replace(core.view, language=lang)
    assert view.notice == "notice.card_refused"  # what `expect refused CARD` reads
    assert notice_text(view, cat) == getattr(lost, lang)


def test_a_refused_card_without_words_from_the_hub_gets_a_plain_line(cat: Catalogue) -> None:
    from firmware.view import KioskView
    from kiosk_ui.present import notice_text

    view = KioskView(notice="notice.card_refused", notice_args=(("state", "unknown"),))
    assert notice_text(view, cat) == "这张卡现在不能使用，请到服务台询问"
