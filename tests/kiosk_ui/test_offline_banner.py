"""The offline banner names how many txns wait to be sent (a van's crew, issue 19 item 5),
in both languages, under a real Kivy window at 800x480; without a count it says what it
always said."""

from __future__ import annotations

import pytest

from firmware.view import KioskView

WORDS = {"en": "5 waiting to be sent", "zh": "5 条记录待上传"}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_offline_banner_counts_what_waits(ui, language: str) -> None:
    ui.show(KioskView(language=language, online=False, offline_pending=5, profile="van"))
    assert ui.app.banner.shown
    assert WORDS[language] in ui.app.banner.text
    assert ui.app.banner.text in ui.texts()
    ui.screenshot(f"offline_banner_pending_{language}")


def test_without_a_count_the_banner_says_only_offline_and_online_hides_it(ui) -> None:
    ui.show(KioskView(language="en", online=False, offline_pending=5))
    ui.show(KioskView(language="en", online=False, offline_pending=0))
    assert ui.app.banner.text == ui.app.catalogue.text("en", "banner.offline")
    ui.show(KioskView(language="en", online=True))
    assert not ui.app.banner.shown
