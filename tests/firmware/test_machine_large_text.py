"""Large, high-contrast text in the core (issue 19 item 6): `[kiosk] large_text` sets
the start, a reader's `large_text` press switches it for their session,
and the default comes back when the session ends."""

from __future__ import annotations

from contract.card_schemes import make_card_number
from contract.screens import Press
from drivers.events import CardPresented
from firmware.core.config import CoreConfig
from firmware.core.events import LinkChanged
from kiosk_tools.core_harness import CoreHarness

JOINT = make_card_number("bj-joint", 42)


def test_the_configured_default_is_what_the_attract_screen_draws() -> None:
    assert CoreHarness(CoreConfig()).view.large_text is False
    assert CoreHarness(CoreConfig(large_text=True)).view.large_text is True


def test_a_reader_switches_it_for_the_session_and_the_default_comes_back() -> None:
    k = CoreHarness(CoreConfig(library_id="capital"))
    k.wait(0.25)
    k.feed(LinkChanged(True), CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    k.answer(
        scheme="bj-joint",
        state="valid",
        masked_name="王*明",
        pin_required=False,
        loans=[],
        items_left=5,
    )
    assert k.view.screen == "borrow"
    k.feed(Press("large_text"))
    assert (k.view.screen, k.view.large_text) == ("borrow", True)
    k.feed(Press("finish"))
    assert (k.view.screen, k.view.large_text) == ("summary", True)  # still the reader's
    k.feed(Press("finish"))
    assert k.view.screen == "attract" and k.view.large_text is False


def test_it_toggles_on_and_off_at_the_attract_screen() -> None:
    k = CoreHarness(CoreConfig())
    k.feed(Press("large_text"))
    assert k.view.large_text is True
    k.feed(Press("large_text"))
    assert k.view.large_text is False
