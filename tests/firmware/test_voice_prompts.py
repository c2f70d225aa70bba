"""Every screen, every notice and every refusal reason has a spoken prompt in Chinese and
English, and a change of view says what changed, once (firmware.voice_prompts)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contract.screens import SCREENS
from firmware.core.catalogue_keys import LOCAL_REASONS, NOTICE_KEYS
from firmware.view import ItemLine, KioskView, Text
from firmware.voice_prompts import (
    NOTICE_PROMPTS,
    SCREEN_PROMPTS,
    notice_prompt,
    prompts_between,
    refusal_prompt,
    screen_prompt,
)
from hub.rules.rules import REASONS


def _both(text: Text) -> None:
    assert text.zh.strip() and text.en.strip()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text.zh), text.zh  # Chinese words
    assert text.en.isascii(), text.en


@pytest.mark.parametrize("screen", SCREENS)
def test_every_screen_has_a_prompt_in_both_languages(screen: str) -> None:
    assert screen in SCREEN_PROMPTS
    _both(screen_prompt(KioskView(screen=screen)))


@pytest.mark.parametrize("key", sorted(NOTICE_KEYS))
def test_every_notice_has_a_prompt_in_both_languages(key: str) -> None:
    said = notice_prompt(KioskView(notice=key, notice_args=(("max_items", "3"),)))
    assert said is not None
    _both(said)
    assert "{" not in said.zh + said.en  # arguments filled in


def test_no_prompt_for_a_notice_the_core_does_not_know() -> None:
    assert set(NOTICE_PROMPTS) == set(NOTICE_KEYS)


@pytest.mark.parametrize("code", sorted(LOCAL_REASONS))
def test_every_local_refusal_reason_is_said_with_its_words(code: str) -> None:
    line = ItemLine("30102000000016", "城南旧事", "refused", reason_code=code)
    said = refusal_prompt(line)
    _both(said)
    assert LOCAL_REASONS[code].zh in said.zh and LOCAL_REASONS[code].en in said.en
    assert "《城南旧事》" in said.zh and said.en.startswith("This book")  # which book


def test_a_latin_title_is_named_in_both_languages() -> None:
    said = refusal_prompt(ItemLine("30102000000016", "Fortress Besieged", "refused", reason_code="limit_reached"))
    assert "《Fortress Besieged》" in said.zh and said.en.startswith("Fortress Besieged")


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_hub_refusal_reason_is_said_with_the_hubs_words(code: str) -> None:
    zh, en = REASONS[code]
    line = ItemLine("30102000000016", "", "refused", reason_code=code, message=Text(zh, en))
    said = refusal_prompt(line)
    _both(said)
    assert zh in said.zh and en in said.en
    assert said.zh.startswith("这本书") and said.en.startswith("This book")


def test_a_refusal_of_an_unknown_reason_still_says_something() -> None:
    _both(refusal_prompt(ItemLine("30102000000016", "", "refused", reason_code="new_rule")))


def test_a_card_that_may_only_return_hears_why_and_where_to_return() -> None:
    why = Text("本馆不能用这种读者卡借书，但可以还书。", "This library cannot lend on this kind of card.")
    said = screen_prompt(KioskView(screen="borrow", may_borrow=False, borrow_message=why))
    assert said.zh.startswith(why.zh) and "还书口" in said.zh
    assert said.en.startswith(why.en) and "return slot" in said.en


def test_a_new_screen_is_said_then_its_notice() -> None:
    before = KioskView(screen="attract")
    after = KioskView(screen="borrow", notice="notice.offline_reader", notice_args=(("max_items", "3"),))
    said = prompts_between(before, after)
    assert said == (SCREEN_PROMPTS["borrow"], notice_prompt(after))
    assert "3" in said[1].zh and "3" in said[1].en


def test_the_same_view_again_says_nothing_and_a_new_notice_says_only_the_notice() -> None:
    view = KioskView(screen="borrow")
    assert prompts_between(view, view) == ()
    noticed = replace(view, notice="notice.already_scanned")
    assert prompts_between(view, noticed) == (NOTICE_PROMPTS["notice.already_scanned"],)
    assert prompts_between(noticed, replace(noticed, countdown_s=9)) == ()


def test_a_refused_book_is_said_once_when_it_is_refused() -> None:
    checking = ItemLine("30102000000016", "城南旧事", "checking")
    refused = replace(checking, status="refused", reason_code="limit_reached")
    lent = ItemLine("30102000000024", "平凡的世界", "loaned", due="2025-04-12")
    before = KioskView(screen="borrow", items=(checking,))
    after = replace(before, items=(refused, lent))
    assert prompts_between(before, after) == (refusal_prompt(refused),)
    assert prompts_between(after, replace(after, countdown_s=5)) == ()


def test_switching_the_language_says_the_screen_again() -> None:
    """A reader who pressed 中文 / English hears the screen in the language chosen."""
    zh = KioskView(screen="returns", language="zh")
    assert prompts_between(zh, replace(zh, language="en")) == (SCREEN_PROMPTS["returns"],)


def test_a_notice_that_says_what_its_screen_says_is_said_once() -> None:
    returns = KioskView(screen="returns", notice="notice.returns_instructions")
    assert prompts_between(KioskView(), returns) == (SCREEN_PROMPTS["returns"],)
