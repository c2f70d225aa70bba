"""Every shipped desk and chute scenario passes against a real broker, a real hub and
the simulator (the newer devices' and services' in test_scenarios_newer.py); a
scenario whose `expect` does not hold, or that has a syntax error, fails naming its
line (exit 1 and exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.scenario_files import ALL, DESK_AND_CHUTE, assert_scenario_passes

SCENARIOS = DESK_AND_CHUTE


def test_the_scenarios_are_there() -> None:
    names = {p.stem for p in ALL}
    assert {
        "borrow_three_books",
        "return_other_members_books",
        "nlc_card_at_district_library",
        "nlc_card_at_capital",
        "blocked_card",
        "offline_borrowing_then_reconnect",
        "power_cut_mid_session",
        "double_scan",
        "chute_jam",
        "pad_five_book_stack",
        "pad_stack_with_refused_book",
        "pad_return_rearms_tag",
        "pad_security_switch_fails",
        "pad_set_missing_part",
        "ecard_login",
        "nlc_book_at_capital",
    } <= names


@pytest.mark.slow
@pytest.mark.parametrize("script", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_passes(alliance, script: Path) -> None:
    assert_scenario_passes(alliance, script)


@pytest.mark.slow
def test_a_wrong_expect_fails_naming_its_line(alliance, tmp_path: Path) -> None:
    script = tmp_path / "wrong_expect.txt"
    script.write_text(
        "# a capital book returned at the Capital Library is shelved, not transferred\n"
        "drop 30002000000125\n"
        "expect return 30002000000125\n"
        "expect route 30002000000125 transfer xicheng\n",
        encoding="utf-8",
    )
    code, output = alliance.run_script(script)
    assert code == 1, output
    assert "FAIL: line 4:" in output
    assert "route=shelve" in output  # what was seen instead


def test_a_syntax_error_exits_2_naming_its_line(alliance, tmp_path: Path) -> None:
    script = tmp_path / "typo.txt"
    script.write_text("tap 0110000012341\n# fine so far\nscna 30002000000018\n", encoding="utf-8")
    code, output = alliance.run_script(script)
    assert code == 2, output
    assert "line 3: unknown verb 'scna' (did you mean 'scan'?)" in output
