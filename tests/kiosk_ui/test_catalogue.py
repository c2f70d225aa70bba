"""The message catalogue: both languages complete, every key the core and the view
contract use is present, and the wording rules pick the right words."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from firmware.view import ItemLine, Text
from kiosk_ui.i18n import LANGUAGES, Catalogue
from kiosk_ui.present import format_due, item_detail
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
    if importlib.util.find_spec("firmware.core.messages") is None:
        pytest.skip("firmware/core/messages.py is not written yet")
    from firmware.core import messages

    keys = set(messages.NOTICE_KEYS)
    assert keys, "firmware.core.messages defines no NOTICE_KEYS"
    keys |= {f"status.{s}" for s in getattr(messages, "ITEM_STATUSES", ())}
    keys |= {f"reason.{code}" for code in getattr(messages, "LOCAL_REASONS", ())}
    for lang in LANGUAGES:
        missing = sorted(k for k in keys if not cat.has(k, lang))
        assert not missing, f"kiosk_ui/locale/{lang} lacks {missing}"


def test_every_reason_code_the_hub_gives_has_words_of_our_own(cat: Catalogue) -> None:
    """Refusals normally carry the hub's words; ours are the fallback if one does not."""
    from hub import answers, rules

    codes = set(rules.REASONS) | set(answers.HUB_REASONS)
    for lang in LANGUAGES:
        missing = sorted(c for c in codes if not cat.has(f"reason.{c}", lang))
        assert not missing, f"kiosk_ui/locale/{lang} lacks reasons {missing}"


def test_notice_placeholders_match_the_cores_glosses(cat: Catalogue) -> None:
    if importlib.util.find_spec("firmware.core.messages") is None:
        pytest.skip("firmware/core/messages.py is not written yet")
    import string

    from firmware.core import messages

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for key, gloss in messages.NOTICE_KEYS.items():
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
