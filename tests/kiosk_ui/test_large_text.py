"""Large, high-contrast text (issue 19 item 6): the reader's switch on the reader screens
posts `large_text`; a view with `large_text` draws every font 1.3x, the page pure white
and the detail lines black, and the switch then offers normal text back. Screenshots at
800x480 in both languages; every sample view laid out without anything cut off."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from contract.screens import Press
from kiosk_ui.samples import sample_views
from kiosk_ui.theme import LARGE_TEXT_SCALE
from tests.kiosk_ui.test_screens import all_views, layout_problems, placement_problems, window_box

READER_SAMPLES = ("attract", "borrow", "returns", "summary", "help")


@pytest.mark.parametrize("sample", READER_SAMPLES)
def test_every_reader_screen_has_the_switch_and_it_posts_large_text(ui: Any, sample: str) -> None:
    ui.show(sample_views("zh")[sample])
    switch = ui.button(action="large_text")
    assert switch.text == "大字"
    ui.tap(switch)
    assert ui.posted[-1] == Press("large_text")


def test_large_text_draws_bigger_high_contrast_words_and_offers_normal_text_back(ui: Any) -> None:
    view = sample_views("en")["borrow"]

    def font_scales() -> set[float]:
        """Each reading word's font size over its design size (book rows included; not
        the headings and header buttons, which keep their size: `scales` False)."""
        sized = [w for w in ui.visible_widgets() if hasattr(w, "base_size") and w.text and w.scales]
        assert len(sized) > 8
        return {round(w.font_size / (w.base_size * ui.app.scale), 3) for w in sized}

    ui.show(view)
    assert font_scales() == {1.0}
    page = tuple(ui.app.background_colour.rgba)
    fixed = {w for w in ui.visible_widgets() if hasattr(w, "base_size") and w.text and not w.scales}
    assert fixed  # the heading and the header's buttons
    ui.show(replace(view, large_text=True))
    assert font_scales() == {LARGE_TEXT_SCALE}
    assert all(round(w.font_size / (w.base_size * ui.app.scale), 3) == 1.0 for w in fixed)
    assert tuple(ui.app.background_colour.rgba) == (1, 1, 1, 1) != page
    assert tuple(ui.app.muted_ink) == (0, 0, 0, 1)
    assert ui.button(action="large_text").text == "Normal text"
    ui.show(view)
    assert ui.button(action="large_text").text == "Large text"
    assert tuple(ui.app.background_colour.rgba) == page


# Cut off in large English text before: a returns-only card greeted offline (the
# greeting under the two bands) and a wrong PIN (the title under the band).
ONCE_CUT_OFF = ("borrow_offline_returns_only", "pin_wrong")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_sample_view_in_large_text_at_800x480_fits_and_the_readers_are_kept(ui: Any, lang: str) -> None:
    """Large text follows the reader to every screen (the PIN pad, the overlays), so
    every sample view is checked: nothing cut off, outside the window or its own box,
    the header's buttons apart."""
    ui.resize((800, 480))
    problems: list[str] = []
    for name, _, view in (v for v in all_views() if v[1] == lang):
        ui.show(replace(view, large_text=True))
        if name in READER_SAMPLES + ONCE_CUT_OFF:
            ui.screenshot(f"large_text_{name}_{lang}")
        problems += [f"{name}/{lang}: {p}" for p in layout_problems(ui) + placement_problems(ui)]
    assert not problems, "\n".join(problems[:20])


def test_large_text_leaves_off_the_notice_the_borrow_screen_says_already(ui: Any) -> None:
    """Offline, a card that may only return here: the banner, the greeting and the
    prompt say it; in large text the band does not say it a third time."""
    view = sample_views("en")["borrow_offline_returns_only"]
    ui.show(view)
    assert ui.app.notice_band.shown
    ui.show(replace(view, large_text=True))
    assert not ui.app.notice_band.shown
    shown = "\n".join(ui.texts())
    for words in ("Hello!", "Offline", "This library cannot lend on this kind of card", "To return books"):
        assert words in shown


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_wrong_pin_in_large_text_keeps_the_title_in_sight_under_the_band(ui: Any, lang: str) -> None:
    """The PIN column scrolls rather than overflow: its title is never under the band
    (the checks above do not look inside a scrolling box, so this one does)."""
    ui.resize((800, 480))
    ui.show(replace(sample_views(lang)["pin_wrong"], large_text=True))
    title, privacy = window_box(ui.screen.title), window_box(ui.screen.privacy)
    band = window_box(ui.app.notice_band)
    assert ui.app.notice_band.shown and title[3] <= band[1] + 1, (title, band)
    assert privacy[1] >= window_box(ui.screen.repeat_button)[3] - 1  # the last line above the buttons
