"""Session tokens and titles after the PIN (issue 10, items 4 and 5), as attacks that must
fail: online loans and renewals without the token of a right PIN at this kiosk for this
card, with a forged one, another kiosk's, another card's or an expired one; and loan
titles asked for by a kiosk that only knows a card number. Real ledger on SQLite, real
`Intake` and `RequestAnswers`."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contract import messages
from hub.config import HubConfig
from hub.ledger.ledger import Ledger
from hub.ledger.session_tokens import SessionTokens
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.intake import Intake, IntakeChecks, WorkerStats
from tests.security import test_txn_checks as checks
from tests.security.test_txn_checks import (
    KIOSK,
    NOW,
    book,
    exception_reasons,
    make_intake,
    reader,
    txn,
)

# The attack tests' intake (test_txn_checks'), on the demo ledger and registry of
# tests/security/conftest.py.
intake = checks.intake

PIN = "123456"  # test_txn_checks.reader's


def answers_at(ledger: Ledger, registry: Registry, now: datetime, **kwargs: object) -> RequestAnswers:
    return RequestAnswers(ledger, registry, lambda: now, rules.SHANGHAI, 3, **kwargs)  # type: ignore[arg-type]


def pin_answer(
    ledger: Ledger, registry: Registry, card: dict[str, str], pin: str = PIN, at: datetime = NOW, kiosk: str = KIOSK
) -> messages.Response:
    request = messages.PinCheck(op="pin_check", card=messages.CardRef(**card), pin=pin)
    return answers_at(ledger, registry, at).answer(request, kiosk)


def token_for(ledger: Ledger, registry: Registry, card: dict[str, str], at: datetime = NOW, kiosk: str = KIOSK) -> str:
    """The token of a right PIN for `card` at `kiosk` at `at`."""
    resp = pin_answer(ledger, registry, card, at=at, kiosk=kiosk)
    assert resp.pin_ok and resp.session_token
    return resp.session_token


def online(kind: str, item: str, card: dict[str, str], at: datetime = NOW, token: str | None = None) -> bytes:
    return txn(kind, item, card, at, mode="online", session_token=token)


def lookup(answers: RequestAnswers, card: dict[str, str]) -> messages.Response:
    request = messages.ReaderLookup(op="reader_lookup", card=messages.CardRef(**card), library_id="capital")
    return answers.answer(request, KIOSK)


# ---------------------------------------------------------------- online loans and renewals


def test_an_online_loan_with_the_token_of_a_right_pin_commits_clean(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 1), book(registry, 1)
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token=token_for(ledger, registry, card)))
    assert (ack.result, ack.exception) == ("committed", None)
    assert exception_reasons(ledger, ack) == set()


def test_an_online_renewal_with_its_token_commits_clean_and_without_one_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item, other_item = reader(ledger, 1), book(registry, 1), book(registry, 2)
    token = token_for(ledger, registry, card)
    intake.handle_txn(KIOSK, online("loan", item, card, token=token))
    intake.handle_txn(KIOSK, online("loan", other_item, card, token=token))
    [clean] = intake.handle_txn(KIOSK, online("renew", item, card, token=token))
    [bare] = intake.handle_txn(KIOSK, online("renew", other_item, card))
    assert (clean.result, clean.exception) == ("committed", None)
    assert (bare.result, bare.exception) == ("committed", "no_session_token")


def test_an_online_loan_without_a_token_is_committed_as_an_exception_for_staff(
    intake: Intake, ledger: Ledger, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    card, item = reader(ledger, 2), book(registry, 2)
    with caplog.at_level(logging.DEBUG):
        [ack] = intake.handle_txn(KIOSK, online("loan", item, card))
    assert (ack.result, ack.exception) == ("committed", "no_session_token")
    assert exception_reasons(ledger, ack) == {"no_session_token"}
    assert ledger.item(item).state == "on_loan"  # staff look at it; the ledger follows the book
    assert "no_session_token" in caplog.text and card["number"] not in caplog.text
    assert all(card["number"] not in row.summary for row in ledger.exceptions())


def forged(token: str) -> str:
    """The same token with its MAC's last character changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def stretched(token: str) -> str:
    """The same token with its expiry moved a day on (the MAC no longer matches)."""
    head, issued, expires, mac = token.split(".")
    return f"{head}.{issued}.{int(expires) + 86400}.{mac}"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda good, other_kiosk, other_card: forged(good), id="forged-mac"),
        pytest.param(lambda good, other_kiosk, other_card: stretched(good), id="stretched-expiry"),
        pytest.param(lambda good, other_kiosk, other_card: "s1.1.2." + "A" * 43, id="made-up"),
        pytest.param(lambda good, other_kiosk, other_card: "not-a-token-at-all", id="malformed"),
        pytest.param(lambda good, other_kiosk, other_card: other_kiosk, id="another-kiosk"),
        pytest.param(lambda good, other_kiosk, other_card: other_card, id="another-card"),
    ],
)
def test_an_online_loan_with_a_token_not_issued_for_it_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry, make_token
) -> None:
    card, other, item = reader(ledger, 3), reader(ledger, 4), book(registry, 3)
    good = token_for(ledger, registry, card)
    token = make_token(good, token_for(ledger, registry, card, kiosk="k-other"), token_for(ledger, registry, other))
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token=token))
    assert (ack.result, ack.exception) == ("committed", "session_token_invalid")
    assert exception_reasons(ledger, ack) == {"session_token_invalid"}


def test_an_online_loan_after_the_token_expired_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 5), book(registry, 1)
    token = token_for(ledger, registry, card, at=NOW - timedelta(minutes=16))  # 15 minutes by default
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token=token))
    assert (ack.result, ack.exception) == ("committed", "session_token_expired")


def test_a_late_online_loan_is_judged_at_its_at_not_at_arrival(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    """The reader was told at 09:00:30 with a token from 09:00; the hub got it at 10:00."""
    card, item = reader(ledger, 6), book(registry, 1)
    issued = NOW - timedelta(hours=1)
    token = token_for(ledger, registry, card, at=issued)
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, at=issued + timedelta(seconds=30), token=token))
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_token_cannot_vouch_for_a_loan_told_before_it_was_issued(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 7), book(registry, 1)
    token = token_for(ledger, registry, card)
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, at=NOW - timedelta(minutes=10), token=token))
    assert ack.exception == "session_token_invalid"


def test_a_token_verifies_on_another_hub_worker_sharing_the_ledger(
    tmp_path: Path, ledger: Ledger, registry: Registry
) -> None:
    """Worker 1 answers the PIN; worker 2, its own connection to the same ledger (as a
    second process or a restarted hub has), commits the loan clean."""
    card, item = reader(ledger, 8), book(registry, 1)
    token = token_for(ledger, registry, card)
    url = f"sqlite:///{tmp_path}/truth.sqlite"  # the file of tests/security/conftest.py's ledger
    with Ledger.open(url) as second:
        [ack] = make_intake(second, registry).handle_txn(KIOSK, online("loan", item, card, token=token))
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_token_from_a_hub_with_another_pepper_does_not_verify(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 9), book(registry, 1)
    alien = SessionTokens(b"\x01" * 32).issue(KIOSK, card["scheme"], card["number"], NOW)
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token=alien))
    assert ack.exception == "session_token_invalid"


def test_offline_txns_need_no_token_and_returns_none_at_all(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    card, item = reader(ledger, 10), book(registry, 1)
    [loan] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    [back] = intake.handle_txn(KIOSK, txn("return", item, None, NOW + timedelta(seconds=1), mode="online"))
    assert (loan.exception, back.exception) == (None, None)


def test_a_token_field_that_breaks_the_contract_is_rejected(intake: Intake, ledger: Ledger, registry: Registry) -> None:
    card, item = reader(ledger, 11), book(registry, 1)
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token="x" * 500))
    assert (ack.result, ack.reason) == ("rejected", "invalid payload: session_token: string_pattern_mismatch")


# ---------------------------------------------------------------- titles only after the PIN


def test_a_lookup_of_a_pin_card_lists_no_loans_and_no_token(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    """Before the PIN nothing of the reader: not even the loans' barcodes or due dates
    (issue 16, finding 7)."""
    card, item = reader(ledger, 12), book(registry, 1)
    intake.handle_txn(KIOSK, online("loan", item, card, token=token_for(ledger, registry, card)))
    resp = lookup(answers_at(ledger, registry, NOW), card)
    assert resp.pin_required is True and resp.session_token is None
    assert (resp.loans, resp.items_left, resp.masked_name) == (None, None, None)
    assert item not in messages.encode(resp).decode()


def test_a_right_pin_brings_the_titles_and_a_token(intake: Intake, ledger: Ledger, registry: Registry) -> None:
    card, item = reader(ledger, 13), book(registry, 1)
    intake.handle_txn(KIOSK, online("loan", item, card, token=token_for(ledger, registry, card)))
    resp = pin_answer(ledger, registry, card)
    [line] = resp.loans or []
    assert line.item == item and line.title == ledger.item(item).title and line.title
    assert resp.items_left == registry.scheme(card["scheme"]).max_items - 1
    assert resp.session_token and card["number"] not in resp.session_token


def test_a_wrong_pin_brings_neither_titles_nor_a_token(ledger: Ledger, registry: Registry) -> None:
    card = reader(ledger, 14)
    resp = pin_answer(ledger, registry, card, pin="999999")
    assert (resp.pin_ok, resp.reason_code) == (False, "pin_wrong")
    assert (resp.loans, resp.session_token) == (None, None)


def test_a_scheme_without_pins_gets_titles_and_a_token_at_the_lookup(ledger: Ledger, registry: Registry) -> None:
    """The tap is the authentication there; a loan with that token commits clean."""
    schemes = dict(registry.schemes)
    schemes["bj-joint"] = replace(schemes["bj-joint"], pin_required=False)
    no_pins = Registry(registry.members, schemes)
    card, item = reader(ledger, 15), book(registry, 1)
    intake = make_intake(ledger, no_pins)
    intake.handle_txn(KIOSK, online("loan", item, card, token=token_for(ledger, registry, card)))
    resp = lookup(answers_at(ledger, no_pins, NOW), card)
    assert resp.pin_required is False and [line.title for line in resp.loans or []] == [ledger.item(item).title]
    [ack] = intake.handle_txn(KIOSK, online("renew", item, card, token=resp.session_token))
    assert (ack.result, ack.exception) == ("committed", None)


def test_the_token_lifetime_follows_the_hub_setting(ledger: Ledger, registry: Registry) -> None:
    config = HubConfig(session_token_ttl_s=120)
    card, item = reader(ledger, 16), book(registry, 1)
    answers = answers_at(ledger, registry, NOW - timedelta(minutes=3), session_ttl=config.session_ttl)
    request = messages.PinCheck(op="pin_check", card=messages.CardRef(**card), pin=PIN)
    token = answers.answer(request, KIOSK).session_token
    intake = Intake(ledger, registry, answers, lambda: NOW, WorkerStats(), IntakeChecks.from_config(config))
    [ack] = intake.handle_txn(KIOSK, online("loan", item, card, token=token))
    assert ack.exception == "session_token_expired"


@pytest.mark.parametrize(
    "token", [None, "", "s1.1.2", "s1.99999999999999.1." + "A" * 43, "s1.1.999999999999." + "A" * 43, "x" * 500]
)
def test_a_hostile_token_has_no_expiry_and_raises_nothing(token: str | None) -> None:
    assert SessionTokens.expires_at(token) is None


def test_a_tokens_expiry_is_read_from_it(ledger: Ledger) -> None:
    tokens = SessionTokens(b"k" * 32)
    assert SessionTokens.expires_at(tokens.issue(KIOSK, "bj-joint", "1", NOW)) == NOW + tokens.ttl
