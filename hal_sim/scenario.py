"""Scenario scripts (docs/scenarios.md): parse them into steps.

A script is plain text, one step a line, `#` starts a comment. `parse_scenario`
turns it into the frozen step records of hal_sim.scenario_steps, each knowing its
`.line`, or raises `ScenarioError("line 7: unknown verb 'scna' (did you mean
'scan'?)")` — the first mistake, with its line number, so a technician can fix a script
without reading code. hal_sim.device_steps plays the steps that happen to devices.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable

from contract.screens import (  # the screens and touches a scenario can use are the UI's
    ACTIONS,
    SCREENS,
)
from hal_sim.scenario_steps import (
    Clear,
    Drop,
    Ecard,
    ExpectAttempts,
    ExpectCommitted,
    ExpectDue,
    ExpectHold,
    ExpectLoan,
    ExpectMessage,
    ExpectOffline,
    ExpectOnline,
    ExpectPending,
    ExpectRefused,
    ExpectRenewed,
    ExpectReturn,
    ExpectRoute,
    ExpectScreen,
    ExpectSecured,
    ExpectTitle,
    HubDown,
    HubUp,
    Jam,
    Lift,
    Pin,
    Place,
    PowerCut,
    Press,
    Remove,
    Scan,
    ScenarioError,
    Step,
    TagSpec,
    Tap,
    Wait,
)

ROUTES = ("shelve", "transfer", "hold")
BEAMS = ("entry", "exit")
UID_LENGTHS = (4, 7, 10)  # ISO 14443A single, double and triple size UIDs
TAG_FAULTS = ("unreadable", "write-fails")
TAG_MARK = "tag"  # `drop BARCODE:tag`: the chute's RFID reader reads a tag, not a barcode
MAX_STACK = 30  # books in one `place`: more than any pad holds, fewer than a typo makes
SECURED_STATES = ("on", "off")
HOLD_STATES = ("ready", "in_transit")  # contract.messages.HoldLine.status
ECARD_KINDS = ("expired", "again")  # `ecard CARD [expired|again]`; none: a fresh token


# -- parsing --------------------------------------------------------------------------


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _one_of(line: int, what: str, word: str, choices: tuple[str, ...]) -> str:
    if word not in choices:
        raise ScenarioError(
            line, f"unknown {what} '{word}'{_suggest(word, choices)}; one of: {', '.join(choices)}"
        )
    return word


def _arity(line: int, verb: str, args: list[str], usage: str, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        if low == high:
            wanted = f"{low} argument{'s' if low != 1 else ''}"
        else:
            wanted = f"{low} to {high} arguments"
        raise ScenarioError(
            line, f"'{verb}' takes {wanted} ({usage}), got {' '.join(args) or 'none'}"
        )


def _uid(line: int, text: str) -> bytes:
    if not text.startswith("uid="):
        raise ScenarioError(line, f"'tap' expects uid=HEX after the card number, got '{text}'")
    hex_text = text[4:].replace(":", "")
    try:
        uid = bytes.fromhex(hex_text)
    except ValueError:
        raise ScenarioError(line, f"uid must be hexadecimal, got '{text[4:]}'") from None
    if len(uid) not in UID_LENGTHS:
        raise ScenarioError(line, f"uid must be 4, 7 or 10 bytes, got {len(uid)}")
    return uid


def _seconds(line: int, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ScenarioError(line, f"'wait' needs a number of seconds, got '{text}'") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ScenarioError(line, f"'wait' needs a number of seconds >= 0, got '{text}'")
    return seconds


def _digits(line: int, verb: str, text: str) -> str:
    if not (text.isascii() and text.isdigit()):
        raise ScenarioError(line, f"'{verb}' needs digits, got '{text}'")
    return text


def _set_part(line: int, verb: str, text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if match is None:
        raise ScenarioError(line, f"'{verb}': a set part is N/M (part N of M), got '{text}'")
    part, of = int(match[1]), int(match[2])
    if not 1 <= part <= of:
        raise ScenarioError(line, f"'{verb}': part {part} of {of} is impossible (1 <= N <= M)")
    return part, of


def _tag(line: int, verb: str, text: str, *, faults: bool = True) -> TagSpec:
    """`BARCODE[:N/M][:unreadable][:write-fails][:tag]`, options in any order."""
    barcode, *options = text.split(":")
    if not barcode or not (barcode.isascii() and barcode.isalnum()):
        raise ScenarioError(line, f"'{verb}': a tagged book's barcode is letters and digits, got '{text}'")
    fields: dict[str, object] = {}
    for option in (o.lower() for o in options):
        if "/" in option or option.isdigit():
            if "part" in fields:
                raise ScenarioError(line, f"'{verb}': '{text}' names two set parts")
            fields["part"], fields["of"] = _set_part(line, verb, option)
        elif option in TAG_FAULTS and faults:
            fields[option.replace("-", "_")] = True
        elif option == TAG_MARK:
            continue
        elif option in TAG_FAULTS:
            raise ScenarioError(line, f"'{verb}': tag faults are given where the book first appears ('place', 'drop'), got '{text}'")
        else:
            known = ("N/M", *TAG_FAULTS) if faults else ("N/M",)
            raise ScenarioError(
                line,
                f"'{verb}': unknown tag option '{option}'{_suggest(option, TAG_FAULTS)}; "
                f"one of: {', '.join(known)}",
            )
    return TagSpec(barcode, **fields)  # type: ignore[arg-type]


def _tags(line: int, verb: str, args: list[str], *, faults: bool = True) -> tuple[TagSpec, ...]:
    tags = tuple(_tag(line, verb, arg, faults=faults) for arg in args)
    seen: set[tuple[str, int | None]] = set()
    for tag in tags:
        if tag.key in seen:
            raise ScenarioError(line, f"'{verb}': {tag.name} is named twice; one book has one tag")
        seen.add(tag.key)
    return tags


def _drop(line: int, text: str) -> Drop:
    if ":" not in text:
        return Drop(line, text)
    if TAG_MARK not in (o.lower() for o in text.split(":")[1:]):
        raise ScenarioError(
            line,
            f"'drop {text}': a tagged book dropped in the chute is marked ':tag' "
            f"(e.g. 'drop {text.split(':')[0]}:tag'); a plain barcode has no ':'",
        )
    tag = _tag(line, "drop", text)
    return Drop(line, tag.barcode, tag)


def _parse_expect(line: int, args: list[str]) -> Step:
    if not args:
        raise ScenarioError(line, "'expect' needs what to expect: " + ", ".join(_EXPECT_FORMS))
    form, rest = args[0].lower(), args[1:]
    if form not in _EXPECT_FORMS:
        raise ScenarioError(line, f"unknown expectation '{form}'{_suggest(form, _EXPECT_FORMS)}")
    usage, low, high = _EXPECT_FORMS[form]
    _arity(line, f"expect {form}", rest, usage, low, high)
    if form == "screen":
        return ExpectScreen(line, _one_of(line, "screen", rest[0].lower(), SCREENS))
    if form == "loan":
        return ExpectLoan(line, rest[0])
    if form == "renewed":
        return ExpectRenewed(line, rest[0])
    if form == "attempts":
        return ExpectAttempts(line, int(_digits(line, "expect attempts", rest[0])))
    if form == "refused":
        return ExpectRefused(line, rest[0], rest[1] if len(rest) > 1 else None)
    if form == "return":
        return ExpectReturn(line, rest[0])
    if form == "route":
        route = _one_of(line, "route", rest[1].lower(), ROUTES)
        return ExpectRoute(line, rest[0], route, rest[2] if len(rest) > 2 else None)
    if form == "title":
        return ExpectTitle(line, rest[0], rest[1])
    if form == "due":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest[1]):
            raise ScenarioError(line, f"'expect due' needs a date YYYY-MM-DD, got '{rest[1]}'")
        return ExpectDue(line, rest[0], rest[1])
    if form == "message":
        return ExpectMessage(line, rest[0], rest[1])
    if form == "secured":
        tag = _tag(line, "expect secured", rest[0], faults=False)
        state = _one_of(line, "security state", rest[1].lower(), SECURED_STATES)
        return ExpectSecured(line, tag.barcode, tag.part, state == "on")
    if form == "hold":
        status = _one_of(line, "hold status", rest[1].lower(), HOLD_STATES)
        return ExpectHold(line, rest[0], status, rest[2] if len(rest) > 2 else None)
    if form == "offline":
        return ExpectOffline(line)
    if form == "online":
        return ExpectOnline(line)
    if form == "pending":
        return ExpectPending(line, int(_digits(line, "expect pending", rest[0])))
    return ExpectCommitted(line, rest[0])


_EXPECT_FORMS: dict[str, tuple[str, int, int]] = {
    "screen": ("NAME", 1, 1),
    "loan": ("BARCODE", 1, 1),
    "renewed": ("BARCODE", 1, 1),
    "attempts": ("COUNT", 1, 1),
    "refused": ("BARCODE [REASON]", 1, 2),
    "return": ("BARCODE", 1, 1),
    "route": ("BARCODE shelve|transfer|hold [LIBRARY_ID]", 2, 3),
    "title": ("BARCODE WORD", 2, 2),
    "due": ("BARCODE YYYY-MM-DD", 2, 2),
    "message": ("BARCODE WORD", 2, 2),
    "secured": ("BARCODE[:N/M] on|off", 2, 2),
    "hold": ("BARCODE ready|in_transit [LIBRARY_ID]", 2, 3),
    "offline": ("no arguments", 0, 0),
    "online": ("no arguments", 0, 0),
    "pending": ("COUNT", 1, 1),
    "committed": ("BARCODE", 1, 1),
}

_USAGE: dict[str, tuple[str, int, int]] = {
    "tap": ("CARD_NUMBER [uid=HEX]", 1, 2),
    "remove": ("no arguments", 0, 0),
    "pin": ("DIGITS", 1, 1),
    "scan": ("BARCODE", 1, 1),
    "ecard": ("CARD_NUMBER [expired|again]", 1, 2),
    "drop": ("BARCODE or BARCODE:tag[:N/M][:FAULT]", 1, 1),
    "place": ("BARCODE[:N/M][:FAULT] ...", 1, MAX_STACK),
    "lift": ("[BARCODE[:N/M] ...]", 0, MAX_STACK),
    "jam": ("[entry|exit]", 0, 1),
    "clear": ("no arguments", 0, 0),
    "press": ("ACTION", 1, 1),
    "wait": ("SECONDS", 1, 1),
    "hub": ("down|up", 1, 1),
    "power": ("cut", 1, 1),
    "expect": ("WHAT ...", 1, 4),
}
VERBS = tuple(_USAGE)


def _parse_step(line: int, verb: str, args: list[str]) -> Step:
    if verb not in _USAGE:
        raise ScenarioError(line, f"unknown verb '{verb}'{_suggest(verb, VERBS)}")
    if verb == "expect":
        return _parse_expect(line, args)
    usage, low, high = _USAGE[verb]
    _arity(line, verb, args, usage, low, high)
    match verb:
        case "tap":
            card = args[0]
            if not card.isascii() or not card.isalnum():
                raise ScenarioError(line, f"card number must be letters and digits, got '{card}'")
            return Tap(line, card, _uid(line, args[1]) if len(args) > 1 else None)
        case "remove":
            return Remove(line)
        case "pin":
            return Pin(line, _digits(line, "pin", args[0]))
        case "scan":
            return Scan(line, args[0])
        case "ecard":
            card = args[0]
            if not card.isascii() or not card.isalnum():
                raise ScenarioError(line, f"card number must be letters and digits, got '{card}'")
            kind = _one_of(line, "e-card kind", args[1].lower(), ECARD_KINDS) if len(args) > 1 else "fresh"
            return Ecard(line, card, kind)  # type: ignore[arg-type]
        case "drop":
            return _drop(line, args[0])
        case "place":
            return Place(line, _tags(line, "place", args))
        case "lift":
            return Lift(line, _tags(line, "lift", args, faults=False))
        case "jam":
            beam = _one_of(line, "beam", args[0].lower(), BEAMS) if args else "entry"
            return Jam(line, beam)  # type: ignore[arg-type]
        case "clear":
            return Clear(line)
        case "press":
            return Press(line, _one_of(line, "action", args[0].lower(), ACTIONS))
        case "wait":
            return Wait(line, _seconds(line, args[0]))
        case "hub":
            state = _one_of(line, "hub state", args[0].lower(), ("down", "up"))
            return HubDown(line) if state == "down" else HubUp(line)
        case _:  # power
            _one_of(line, "power event", args[0].lower(), ("cut",))
            return PowerCut(line)


def parse_scenario(text: str) -> list[Step]:
    """Parse a script into steps; raises `ScenarioError` naming the first bad line."""
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if words:
            steps.append(_parse_step(number, words[0].lower(), words[1:]))
    return steps


def load_scenario(path: str) -> list[Step]:
    """Parse a script file (UTF-8)."""
    with open(path, encoding="utf-8") as handle:
        return parse_scenario(handle.read())
