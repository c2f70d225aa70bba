"""PINs at rest (issue 10, items 5 and 6): peppered scrypt, old PBKDF2 hashes upgraded
at the next right PIN, and a pepper kept where a copy of the readers table lacks it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contract import card_schemes, messages
from contract.privacy import card_hash
from hub.answers import RequestAnswers
from hub.ledger import Ledger
from hub.pin_guard import PIN_CHECKS_PAUSED, PinGuessGuard
from hub.pins import (
    DEMO_SEED_COST,
    PIN_COST,
    PinPepperError,
    PinPeppers,
    hash_pin,
    verify_pin,
    write_pepper_file,
)
from hub.registry import load_registry
from hub.rules import ReaderRecord
from hub.schemes import Scheme

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
NUMBER = card_schemes.make_card_number("bj-joint", 4712)
READER = ReaderRecord("bj-joint", NUMBER, "王小明", "valid", None, date(2030, 1, 1), "capital")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/pins.sqlite"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    with Ledger.open(url) as led:
        led.add_reader(READER, pin="2468")
        yield led


@pytest.fixture
def policy() -> Scheme:
    return load_registry().scheme("bj-joint")


def stored_hash(ledger: Ledger) -> str:
    return ledger.db.scalar("SELECT pin_hash FROM readers WHERE card_hash = ?", (card_hash("bj-joint", NUMBER),))


def set_stored_hash(ledger: Ledger, value: str) -> None:
    ledger.db.execute(
        "UPDATE readers SET pin_hash = ? WHERE card_hash = ?", (value, card_hash("bj-joint", NUMBER))
    )


def pbkdf2_hash(pin: str) -> str:
    salt = bytes(range(16))
    return f"pbkdf2_sha256$5000${salt.hex()}${hashlib.pbkdf2_hmac('sha256', pin.encode(), salt, 5000).hex()}"


def test_a_new_pin_is_stored_as_peppered_scrypt_at_the_production_cost(ledger: Ledger) -> None:
    stored = stored_hash(ledger)
    algo, pid, n, r, p, _salt, _digest = stored.split("$")
    assert (algo, pid) == ("scrypt", ledger.pin_peppers().current_id)
    assert (int(n), int(r), int(p)) == (PIN_COST.n, PIN_COST.r, PIN_COST.p)
    assert "2468" not in stored


def test_a_stored_hash_cannot_be_checked_without_the_pepper(ledger: Ledger) -> None:
    stored = stored_hash(ledger)
    right = ledger.pin_peppers()
    other = PinPeppers(right.current_id, {right.current_id: b"x" * 32})
    assert verify_pin("2468", stored, right)
    assert not verify_pin("2468", stored, other)


def test_the_ledgers_pepper_is_generated_once_and_kept_across_opens(url: str, ledger: Ledger) -> None:
    first = ledger.pin_peppers()
    with Ledger.open(url) as again:
        assert again.pin_peppers() == first
    assert ledger.db.scalar("SELECT COUNT(*) FROM meta WHERE key = 'pin_pepper'") == 1


def test_an_old_pbkdf2_hash_still_verifies_and_is_upgraded_on_the_next_right_pin(
    ledger: Ledger, policy: Scheme
) -> None:
    old = pbkdf2_hash("2468")
    set_stored_hash(ledger, old)
    assert not ledger.check_pin("bj-joint", NUMBER, "1357", NOW, policy).ok
    assert stored_hash(ledger) == old  # a wrong PIN never rewrites the hash
    assert ledger.check_pin("bj-joint", NUMBER, "2468", NOW, policy).ok
    upgraded = stored_hash(ledger)
    assert upgraded.startswith(f"scrypt${ledger.pin_peppers().current_id}${PIN_COST.n}$")
    assert ledger.check_pin("bj-joint", NUMBER, "2468", NOW, policy).ok
    assert stored_hash(ledger) == upgraded  # current hashes are left alone


def test_a_demo_cost_hash_is_labelled_and_upgraded_on_the_next_right_pin(ledger: Ledger, policy: Scheme) -> None:
    demo = hash_pin("2468", ledger.pin_peppers(), DEMO_SEED_COST)
    assert f"${DEMO_SEED_COST.n}${DEMO_SEED_COST.r}$" in demo
    set_stored_hash(ledger, demo)
    assert ledger.check_pin("bj-joint", NUMBER, "2468", NOW, policy).ok
    assert f"${PIN_COST.n}${PIN_COST.r}$" in stored_hash(ledger)


def test_a_pepper_file_others_can_read_is_refused_naming_the_fix(url: str, tmp_path: Path) -> None:
    path = tmp_path / "pin-pepper"
    write_pepper_file(path)
    path.chmod(0o644)
    with pytest.raises(PinPepperError, match="chmod 600"):
        Ledger.open(url, path)


def test_moving_to_a_pepper_file_keeps_old_hashes_working_and_moves_them_over(
    url: str, ledger: Ledger, policy: Scheme, tmp_path: Path
) -> None:
    before = ledger.pin_peppers().current_id
    path = tmp_path / "pin-pepper"
    write_pepper_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with Ledger.open(url, path) as peppered:
        now_id = peppered.pin_peppers().current_id
        assert now_id != before
        assert peppered.check_pin("bj-joint", NUMBER, "2468", NOW, policy).ok
        assert stored_hash(peppered).startswith(f"scrypt${now_id}$")
        assert peppered.check_pin("bj-joint", NUMBER, "2468", NOW, policy).ok


# -- one PIN tried across many cards from one kiosk (hub/pin_guard.py) -------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def cards(ledger: Ledger, count: int) -> list[messages.CardRef]:
    refs = []
    for serial in range(100, 100 + count):
        number = card_schemes.make_card_number("bj-joint", serial)
        ledger.add_reader(ReaderRecord("bj-joint", number, "李四", "valid", None, date(2030, 1, 1), "capital"), pin="9753")
        refs.append(messages.CardRef(scheme="bj-joint", number=number))
    return refs


def try_pin(answers: RequestAnswers, ref: messages.CardRef, pin: str, kiosk: str = "k1") -> messages.Response:
    return answers.answer(messages.PinCheck(op="pin_check", card=ref, pin=pin), kiosk)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def answers(ledger: Ledger, clock: Clock) -> RequestAnswers:
    guard = PinGuessGuard(max_failures=6, suspect_cards=3, window=timedelta(minutes=10), pause=timedelta(minutes=5))
    return RequestAnswers(
        ledger, load_registry(), clock, local_tz=ZoneInfo("Asia/Shanghai"), offline_max_items=2, pin_guard=guard
    )


def test_one_pin_tried_across_many_cards_pauses_that_kiosks_pin_checks_and_logs_the_kiosk_only(
    ledger: Ledger, answers: RequestAnswers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    refs = cards(ledger, 8)
    with caplog.at_level(logging.WARNING, logger="hub.pin_guard"):
        verdicts = [try_pin(answers, ref, "123456") for ref in refs]
    assert [v.pin_ok for v in verdicts[:6]] == [False] * 6
    assert all(v.ok is False and v.error == PIN_CHECKS_PAUSED for v in verdicts[6:])
    # even the right PIN waits, from this kiosk; another kiosk is not affected
    assert try_pin(answers, refs[7], "9753").error == PIN_CHECKS_PAUSED
    assert try_pin(answers, refs[7], "9753", kiosk="k2").pin_ok
    [line] = [r.getMessage() for r in caplog.records]
    assert "kiosk k1" in line and all(ref.number not in line for ref in refs)
    clock.now += timedelta(minutes=5, seconds=1)
    assert try_pin(answers, refs[7], "9753").pin_ok


def test_a_repeated_pause_is_longer(ledger: Ledger, answers: RequestAnswers, clock: Clock) -> None:
    refs = cards(ledger, 6)
    for ref in refs:
        try_pin(answers, ref, "123456")
    clock.now += timedelta(minutes=5, seconds=1)
    for ref in refs:
        try_pin(answers, ref, "123456")
    clock.now += timedelta(minutes=5, seconds=1)
    assert try_pin(answers, refs[0], "9753").error == PIN_CHECKS_PAUSED
    clock.now += timedelta(minutes=5)
    assert try_pin(answers, refs[0], "9753").pin_ok


def test_unknown_card_numbers_count_toward_the_kiosks_pause(ledger: Ledger, answers: RequestAnswers) -> None:
    unknown = [messages.CardRef(scheme="bj-joint", number=card_schemes.make_card_number("bj-joint", n)) for n in range(900, 906)]
    for ref in unknown:
        try_pin(answers, ref, "123456")
    known = cards(ledger, 1)[0]
    assert try_pin(answers, known, "9753").error == PIN_CHECKS_PAUSED


def test_a_reader_mistyping_their_own_pin_is_locked_as_before_and_never_pauses_the_kiosk(
    ledger: Ledger, answers: RequestAnswers, policy: Scheme
) -> None:
    ref = messages.CardRef(scheme="bj-joint", number=NUMBER)
    verdicts = [try_pin(answers, ref, "0000") for _ in range(policy.pin_max_attempts)]
    assert verdicts[-1].locked_until is not None and all(v.ok for v in verdicts)
    other = cards(ledger, 1)[0]
    assert try_pin(answers, other, "9753").pin_ok


def test_a_suspect_kiosk_cannot_lock_out_a_reader(ledger: Ledger, answers: RequestAnswers, policy: Scheme) -> None:
    decoys = cards(ledger, 3)  # three cards failed: the kiosk is suspect
    for ref in decoys:
        try_pin(answers, ref, "123456")
    victim = messages.CardRef(scheme="bj-joint", number=NUMBER)
    for _ in range(3):
        assert try_pin(answers, victim, "0000").pin_ok is False
    assert ledger.db.scalar(
        "SELECT pin_failures FROM readers WHERE card_hash = ?", (card_hash("bj-joint", NUMBER),)
    ) == 0
    assert try_pin(answers, victim, "2468", kiosk="k2").pin_ok
