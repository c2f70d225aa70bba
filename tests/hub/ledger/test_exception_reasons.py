"""`hub.ledger.exception_reasons` lists every reason code the hub records on a staff exception,
each with a sentence for staff: found here by reading the modules that record them, so a
new code without words fails this test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.ledger import (
    kiosk_flags,
    order_caps,
    session_tokens,
    txn_checks,
    txn_clock,
    txn_effects,
    txn_plausibility,
)
from hub.ledger.exception_reasons import EXCEPTION_REASONS, describe_reason
from hub.rules import rules

HUB = Path(__file__).resolve().parents[3] / "hub"
# Where a code is written into the exceptions table, as the modules spell it.
_RECORDED = re.compile(
    r"""(?:_refuse|_exception|_conflict)\(\s*(?:call,\s*)?"([a-z_]+)"|reason="([a-z_]+)"|reason = '([a-z_]+)'"""
    r"""|VALUES \(\?, \?, '([a-z_]+)'"""
)
_RECORDING_MODULES = ("ledger/commits.py", "ledger/txn_effects.py", "ils/ils_drainer.py", "ils/ils_operations.py", "ledger/ils_live.py")
# Every `ils_...` code the SIP2 leg may record a conflict under, however it spells the call.
_ILS_CODE = re.compile(r'"(ils_[a-z_]+)"')


def recorded_in_source() -> set[str]:
    codes: set[str] = set()
    for name in _RECORDING_MODULES:
        for match in _RECORDED.finditer((HUB / name).read_text()):
            codes.update(group for group in match.groups() if group)
        codes.update(_ILS_CODE.findall((HUB / name).read_text()))
    return codes


def code_constants(*modules: object) -> set[str]:
    return {
        value
        for module in modules
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z][a-z_]+", value)
    }


def test_the_source_scan_finds_the_codes_it_should() -> None:
    assert {"item_on_loan", "item_unknown", "ils_checkin_refused", "ils_no_guest_patron"} <= recorded_in_source()


@pytest.mark.parametrize(
    "code",
    sorted(
        recorded_in_source()
        | (set(rules.REASONS) - {"pin_wrong", "pin_locked"})  # offline refusals become exceptions
        | (code_constants(txn_checks, txn_clock, txn_plausibility, session_tokens) - code_constants(kiosk_flags))
        | {order_caps.PARKED_TOO_LONG}  # the caps' other codes are rejections and flags, not exceptions
        | {txn_effects.ROUTE_CORRECTED}
    ),
)
def test_every_code_the_hub_records_has_words_for_staff(code: str) -> None:
    assert code in EXCEPTION_REASONS
    sentence = EXCEPTION_REASONS[code]
    assert sentence[0].isupper() and sentence.endswith(".") and code not in sentence


def test_an_unknown_code_is_shown_as_itself() -> None:
    assert describe_reason("from_a_future_release") == "from_a_future_release"
    assert describe_reason("return_implausible").startswith("The book was returned at one library")
