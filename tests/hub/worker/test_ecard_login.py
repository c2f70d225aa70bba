"""Phone e-card logins (issue 19 item 4), without a broker: a genuine token made for
this kiosk logs its reader in once, as a tap with the PIN proven; expired, replayed
(after a restart too), tampered, overlong and foreign tokens are refused in both
languages, and nothing is spent by a refused token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from contract import ecard, messages
from hub.ledger import catalogue
from hub.ledger.ecard_tokens import EcardTokens, ecard_key
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.refusals import HUB_REASONS

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def ledger(db_url: str, registry: Registry) -> Iterator[Ledger]:
    with Ledger.open(db_url) as led:
        led.seed_demo(registry, per_member=3)
        yield led


def answers_at(ledger: Ledger, registry: Registry, now: datetime = NOW) -> RequestAnswers:
    return RequestAnswers(ledger, registry, lambda: now, local_tz=BEIJING, offline_max_items=2)


def reader_of(registry: Registry) -> catalogue.DemoReader:
    return next(r for r in catalogue.generate_readers(registry) if r.scheme == "bj-joint" and r.state == "valid")


def tokens(ledger: Ledger) -> EcardTokens:
    return EcardTokens(ecard_key(ledger.pin_peppers().current))


def login(token: str) -> messages.EcardLogin:
    return messages.EcardLogin(op="ecard_login", token=token, library_id="capital")


def refused(resp: messages.Response, code: str) -> bool:
    zh, en = HUB_REASONS[code]
    return (resp.ok, resp.allowed, resp.reason_code, resp.message) == (
        True, False, code, messages.Bilingual(zh=zh, en=en),
    )  # fmt: skip


def test_a_good_token_logs_its_reader_in_as_a_tap_with_the_pin_proven(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    answers = answers_at(ledger, registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k1", NOW - timedelta(seconds=30))
    resp = answers.answer(login(token), "k1")
    assert (resp.ok, resp.scheme, resp.state, resp.allowed, resp.pin_required) == (True, "bj-joint", "valid", True, False)
    assert resp.masked_name == "王*明" and resp.loans == [] and resp.session_token is not None
    assert reader.number not in messages.encode(resp).decode()
    # the session token it brings lets this card borrow at this kiosk, as after a right PIN
    item = next(i for i in catalogue.generate_items(registry) if i.home_library == "capital" and i.state == "on_shelf")
    auth = messages.CheckoutAuth(
        op="checkout_auth", card=messages.CardRef(scheme=reader.scheme, number=reader.number), item=item.barcode,
        library_id="capital", session_token=resp.session_token,
    )  # fmt: skip
    assert answers.answer(auth, "k1").reason_code != "session_required"


def test_an_expired_token_is_refused_by_the_hubs_clock(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k1", NOW - timedelta(seconds=61), lifetime_s=60)
    assert refused(answers_at(ledger, registry).answer(login(token), "k1"), "ecard_expired")
    # the same token a second earlier on the hub's clock was still good
    assert answers_at(ledger, registry, NOW - timedelta(seconds=1)).answer(login(token), "k1").allowed is True


def test_a_token_is_spent_once_and_a_replay_is_refused(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    answers = answers_at(ledger, registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k1", NOW)
    assert answers.answer(login(token), "k1").allowed is True
    assert refused(answers.answer(login(token), "k1"), "ecard_used")


def test_a_replay_after_a_hub_restart_is_still_refused(db_url: str, registry: Registry) -> None:
    reader = reader_of(registry)
    with Ledger.open(db_url) as first:
        first.seed_demo(registry, per_member=3)
        token = tokens(first).issue(reader.scheme, reader.number, "k1", NOW)
        assert answers_at(first, registry).answer(login(token), "k1").allowed is True
    with Ledger.open(db_url) as again:  # a new worker process on the same ledger
        assert refused(answers_at(again, registry, NOW + timedelta(seconds=5)).answer(login(token), "k1"), "ecard_used")


def _with_number(token: str, number: str) -> str:
    """The token with another card number in its payload and its MAC kept (tampered)."""
    found = ecard.read_ecard(token)
    assert found is not None
    claims = found.claims
    forged = ecard.EcardClaims(claims.scheme, number, claims.kiosk_id, claims.issued, claims.expires, claims.token_id)
    return f"{ecard.payload_text(forged)}.{found.mac}"


def test_a_tampered_token_is_refused_and_spends_nothing(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    other = next(
        r for r in catalogue.generate_readers(registry)
        if r.scheme == "bj-joint" and r.state == "valid" and r.number != reader.number
    )  # fmt: skip
    answers = answers_at(ledger, registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k1", NOW)
    assert refused(answers.answer(login(_with_number(token, other.number)), "k1"), "ecard_invalid")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert refused(answers.answer(login(flipped), "k1"), "ecard_invalid")
    # another key's token (someone else's "hub") is a forgery too
    forged = EcardTokens(b"x" * 32).issue(reader.scheme, reader.number, "k1", NOW)
    assert refused(answers.answer(login(forged), "k1"), "ecard_invalid")
    assert answers.answer(login(token), "k1").allowed is True  # the genuine one was not spent


def test_a_token_claiming_more_than_a_minute_is_refused(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    key = ecard_key(ledger.pin_peppers().current)
    issued = int(NOW.timestamp())
    claims = ecard.EcardClaims(reader.scheme, reader.number, "k1", issued, issued + 3600, "abcdefghijkl")
    signed = ecard.payload_text(claims)
    mac = base64.urlsafe_b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=").decode()
    assert refused(answers_at(ledger, registry).answer(login(f"{signed}.{mac}"), "k1"), "ecard_invalid")


def test_a_token_made_for_another_kiosk_is_refused_there_and_not_spent(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    answers = answers_at(ledger, registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k2", NOW)
    assert refused(answers.answer(login(token), "k1"), "ecard_foreign")
    assert refused(answers.answer(login(token)), "ecard_foreign")  # no kiosk: nothing to bind it to
    assert answers.answer(login(token), "k2").allowed is True


def test_a_staff_card_never_logs_in_by_e_card(ledger: Ledger, registry: Registry) -> None:
    staff = next(r for r in catalogue.generate_readers(registry) if r.scheme == "staff")
    token = tokens(ledger).issue(staff.scheme, staff.number, "k1", NOW)
    assert refused(answers_at(ledger, registry).answer(login(token), "k1"), "ecard_not_for_staff")


def test_refusals_log_the_kiosk_and_reason_never_the_card_or_token(
    ledger: Ledger, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    reader = reader_of(registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k2", NOW)
    with caplog.at_level(logging.DEBUG):
        answers_at(ledger, registry).answer(login(token), "k1")
    assert "ecard_foreign" in caplog.text and "k1" in caplog.text
    assert reader.number not in caplog.text and token.split(".")[1] not in caplog.text


def test_the_text_form_is_recognised_and_read_without_the_key(ledger: Ledger, registry: Registry) -> None:
    reader = reader_of(registry)
    token = tokens(ledger).issue(reader.scheme, reader.number, "k1", NOW)
    found = ecard.read_ecard(token)
    assert ecard.looks_like_ecard(token) and found is not None and len(token) <= ecard.MAX_TEXT
    assert (found.claims.scheme, found.claims.number, found.claims.kiosk_id) == (reader.scheme, reader.number, "k1")
    assert ecard.read_ecard("CLAEC1.garbage") is None and not ecard.looks_like_ecard("30002000000018")
