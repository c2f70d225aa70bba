"""PINs at rest (issue 10, items 5 and 6): peppered scrypt, old PBKDF2 hashes upgraded
at the next right PIN, and a pepper kept where a copy of the readers table lacks it.
Guessing from a kiosk: tests/security/test_pin_guard.py; the pepper file: test_at_rest.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from contract import card_schemes
from contract.privacy import card_hash
from hub.ledger.ledger import Ledger
from hub.ledger.pins import (
    DEMO_SEED_COST,
    PIN_COST,
    PinPeppers,
    hash_pin,
    verify_pin,
)
from hub.pki.pin_pepper import PinPepperError, write_pepper_file
from hub.rules.registry import load_registry
from hub.rules.rules import ReaderRecord
from hub.rules.schemes import Scheme

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
