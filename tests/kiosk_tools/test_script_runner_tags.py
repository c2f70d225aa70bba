"""The runner's side of the RFID verbs: pad steps go to the kiosk as script text its
parser reads back the same, and `expect secured` / `expect message` are judged from
what the kiosk answers (a stand-in child here; end to end in tests/e2e/test_scenarios.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from hal_sim.scenario import parse_scenario
from hal_sim.scenario_steps import ExpectMessage, ExpectSecured, ScenarioError
from kiosk_tools.kiosk_child import Shown
from kiosk_tools.script_runner import ExpectationFailed, ScriptRunner, _step_text


@pytest.mark.parametrize(
    "text",
    [
        "place 3010",
        "place 3010:1/3 3010:3/3:write-fails 3011:unreadable",
        "lift",
        "lift 3010 3011:2/3",
        "drop 3010:tag",
        "drop 3010:2/2:write-fails:tag",
        "drop 3010",
    ],
)
def test_pad_steps_reach_the_kiosk_as_the_same_step(text: str) -> None:
    step = parse_scenario(text)[0]
    assert parse_scenario(_step_text(step)) == [step]


class ChildStandIn:
    """Answers `secured` from a list of replies, the last repeated; records the asks."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.asked: list[dict[str, Any]] = []
        self.shown = Shown()

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        self.asked.append({"op": op, **fields})
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def runner() -> ScriptRunner:
    return ScriptRunner([], "mqtt://127.0.0.1:1", [], "k", out=io.StringIO(), expect_timeout_s=0.3)


def tags(*states: tuple[str, bool]) -> dict[str, Any]:
    return {"type": "secured", "tags": [{"tag": t, "secured": on} for t, on in states]}


def test_expect_secured_waits_for_the_switch_that_follows_the_loan() -> None:
    child = ChildStandIn(tags(("3010", True)), tags(("3010", True)), tags(("3010", False)))
    runner()._expect_secured(ExpectSecured(4, "3010", None, False), child)  # type: ignore[arg-type]
    assert child.asked[0] == {"op": "secured", "item": "3010", "part": None}
    assert len(child.asked) == 3  # asked until it held, then no more


def test_expect_secured_holds_only_when_every_part_is_as_expected() -> None:
    child = ChildStandIn(tags(("3010:1/2", False), ("3010:2/2", True)))
    with pytest.raises(ExpectationFailed) as failed:
        runner()._expect_secured(ExpectSecured(9, "3010", None, False), child)  # type: ignore[arg-type]
    assert failed.value.line == 9
    assert "saw security 3010:1/2 off, 3010:2/2 on" in str(failed.value)


def test_expect_secured_of_a_book_the_script_never_made_names_the_line() -> None:
    child = ChildStandIn({"type": "error", "message": "no tag for 3099 was placed or dropped in this run"})
    with pytest.raises(ScenarioError, match=r"^line 3: no tag for 3099 was placed"):
        runner()._expect_secured(ExpectSecured(3, "3099", 2, True), child)  # type: ignore[arg-type]
    assert child.asked == [{"op": "secured", "item": "3099", "part": 2}]


class ShownChild:
    def __init__(self, shown: Shown) -> None:
        self.shown = shown

    def wait_for(self, check: Any, timeout_s: float) -> bool:
        return bool(check(self.shown))


def test_expect_message_matches_a_word_of_either_language_and_says_what_was_shown() -> None:
    shown = Shown()
    message = {"zh": "《书》的防盗未解除，请到服务台处理后再离开。",
               "en": "The security of “Book” could not be switched off: please see staff before leaving."}
    shown.add({"items": [{"barcode": "3010", "status": "loaned", "message": message}]})
    for word in ("STAFF", "服务台"):
        runner()._play(ExpectMessage(5, "3010", word), ShownChild(shown), None, None)  # type: ignore[arg-type]
    with pytest.raises(ExpectationFailed, match=r"^line 5: .*status=loaned, message='The security"):
        runner()._play(ExpectMessage(5, "3010", "parts"), ShownChild(shown), None, None)  # type: ignore[arg-type]


def test_the_kiosk_names_no_line_of_its_own_in_a_step_error() -> None:
    """The child plays each step as one-line text: its error must not say "line 1",
    since the runner names the script's line (FAIL: line 16: 'place' needs ...)."""
    from types import SimpleNamespace

    from kiosk_tools.control import StdioControl

    rig = SimpleNamespace(chip=SimpleNamespace(field=None), desk=None, chute_scanner=None, chute=None, pad=None)
    control = StdioControl(SimpleNamespace(rig=rig), io.StringIO(), io.StringIO())  # type: ignore[arg-type]
    error = control.play_line("place 30106000000116")
    assert error is not None and error.startswith("'place' needs the RFID lending pad")
    assert "scenarios/rfid_pad.toml" in error
