"""PINs are stored salted and hashed, and the card scheme's own policy sets how many wrong
PINs lock a card and for how long."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from contract import card_schemes
from hub.ledger.ledger import Ledger
from hub.ledger.pins import UNTIL_STAFF, PinPeppers, hash_pin, verify_pin
from hub.rules.registry import load_registry
from hub.rules.rules import ReaderRecord
from hub.rules.schemes import Scheme

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
NUMBER = card_schemes.make_card_number("bj-joint", 4711)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/pins.sqlite") as led:
        led.add_reader(
            ReaderRecord("bj-joint", NUMBER, "王小明", "valid", None, date(2030, 1, 1), "capital"), pin="2468"
        )
        yield led


@pytest.fixture
def strict() -> Scheme:
    """bj-joint, but three wrong PINs lock the card: 2 minutes, then 4, then 5, then until staff."""
    base = load_registry().scheme("bj-joint")
    return dataclasses.replace(base, pin_max_attempts=3, lockout_base_minutes=2, lockout_later_minutes=(4, 5))


PEPPERS = PinPeppers("p1", {"p1": b"k" * 32})


def test_the_same_pin_hashes_differently_each_time_and_still_verifies() -> None:
    a, b = hash_pin("2468", PEPPERS), hash_pin("2468", PEPPERS)
    assert a != b and "2468" not in a
    assert verify_pin("2468", a, PEPPERS) and verify_pin("2468", b, PEPPERS)
    assert not verify_pin("2469", a, PEPPERS)


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "md5$1$00$00", "pbkdf2_sha256$x$zz$00", "scrypt$p1$x$8$1$00$00", "scrypt$p1$1099511627776$8$1$00$00"],
)
def test_a_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_pin("2468", stored, PEPPERS)


def test_the_schemes_attempt_limit_and_lockout_ladder_are_the_ones_applied(
    ledger: Ledger, strict: Scheme
) -> None:
    def wrong(at: datetime) -> tuple[int, datetime | None]:
        result = ledger.check_pin("bj-joint", NUMBER, "0000", at, strict)
        return result.attempts_left, result.locked_until

    assert [wrong(NOW) for _ in range(3)] == [(2, None), (1, None), (0, NOW + timedelta(minutes=2))]
    later = NOW + timedelta(minutes=3)
    assert [wrong(later) for _ in range(3)][-1] == (0, later + timedelta(minutes=4))
    latest = later + timedelta(minutes=5)
    assert [wrong(latest) for _ in range(3)][-1] == (0, latest + timedelta(minutes=5))
    # the ladder ran out: locked until staff lift it, however long one waits
    last = latest + timedelta(minutes=6)
    [*_, staff] = [ledger.check_pin("bj-joint", NUMBER, "0000", last, strict) for _ in range(3)]
    assert staff.until_staff and staff.locked_until == UNTIL_STAFF
    assert not ledger.check_pin("bj-joint", NUMBER, "2468", last + timedelta(days=365), strict).ok


def test_the_default_ladder_keeps_the_schemes_own_lockout_first() -> None:
    joint = load_registry().scheme("bj-joint")
    assert [joint.lockout_minutes(n) for n in (1, 2, 3, 4, 9)] == [15, 60, 24 * 60, None, None]


def test_staff_unlock_lifts_even_a_staff_only_lock_and_starts_the_ladder_again(
    ledger: Ledger, strict: Scheme
) -> None:
    at = NOW
    for _ in range(4):  # four lockouts: the last one waits for staff
        for _ in range(3):
            ledger.check_pin("bj-joint", NUMBER, "0000", at, strict, kiosk_id="k-evil")
        at += timedelta(minutes=6)
    assert ledger.check_pin("bj-joint", NUMBER, "2468", at, strict).until_staff
    assert ledger.cards_locked_by("k-evil", at) == 1
    assert ledger.unlock_card("bj-joint", NUMBER) is True
    assert ledger.check_pin("bj-joint", NUMBER, "2468", at, strict).ok
    first = [ledger.check_pin("bj-joint", NUMBER, "0000", at, strict) for _ in range(3)][-1]
    assert first.locked_until == at + timedelta(minutes=2)  # the first step again
    assert ledger.unlock_card("bj-joint", card_schemes.make_card_number("bj-joint", 4712)) is None


def test_a_lock_names_the_kiosk_whose_wrong_pin_made_it_and_a_right_pin_clears_it(
    ledger: Ledger, strict: Scheme
) -> None:
    for _ in range(3):
        ledger.check_pin("bj-joint", NUMBER, "0000", NOW, strict, kiosk_id="k1")
    assert (ledger.cards_locked_by("k1", NOW), ledger.cards_locked_by("k2", NOW)) == (1, 0)
    after = NOW + timedelta(minutes=3)
    assert ledger.cards_locked_by("k1", after) == 0  # the lock ended
    assert ledger.check_pin("bj-joint", NUMBER, "2468", after, strict).ok
    assert ledger.db.scalar("SELECT locked_by FROM readers WHERE number = ?", (NUMBER,)) is None


def test_a_right_pin_resets_the_count_and_an_unknown_card_is_not_known(
    ledger: Ledger, strict: Scheme
) -> None:
    ledger.check_pin("bj-joint", NUMBER, "0000", NOW, strict)
    assert ledger.check_pin("bj-joint", NUMBER, "2468", NOW, strict).ok
    assert ledger.check_pin("bj-joint", NUMBER, "0000", NOW, strict).attempts_left == 2
    other = card_schemes.make_card_number("bj-joint", 4712)
    assert ledger.check_pin("bj-joint", other, "2468", NOW, strict).known is False
