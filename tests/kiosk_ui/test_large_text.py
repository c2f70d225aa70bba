"""Large, high-contrast text (issue 19 item 6): the reader's switch on the reader screens
posts `large_text`; a view with `large_text` draws every font 1.3x, the page pure white
and the detail lines black, and the switch then offers normal text back. Screenshots at
800x480 in both languages, laid out without anything cut off."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from contract.screens import Press
from kiosk_ui.samples import sample_views
from kiosk_ui.theme import LARGE_TEXT_SCALE
from tests.kiosk_ui.test_screens import layout_problems

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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_large_text_screens_at_800x480_fit_and_are_kept_to_look_at(ui: Any, lang: str) -> None:
    ui.resize((800, 480))
    problems: list[str] = []
    for name in READER_SAMPLES:
        ui.show(replace(sample_views(lang)[name], large_text=True))
        problems += [f"{name}/{lang}: {p}" for p in layout_problems(ui)]
        ui.screenshot(f"large_text_{name}_{lang}")
    assert not problems, "\n".join(problems[:20])
