"""Issue 16, findings 6 and 7: a kiosk guessing PINs, locking readers out or walking card
numbers, performed as the attacker would, first against the hub's answers (a ledger and a
clock, so pauses and lockouts are judged by time passed in), then over the secure lab
broker (TLS, the kiosk's own certificate, a real hub worker)."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contract import card_schemes, messages
from contract.privacy import card_hash, mask_card
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.ledger import catalogue
from hub.ledger.kiosk_flags import CARD_WALKING, PIN_GUESSING
from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry
from hub.rules.rules import ItemRecord, ReaderRecord
from hub.rules.schemes import Scheme
from hub.worker.answers import RequestAnswers
from hub.worker.card_walk_guard import CARD_CHECKS_PAUSED
from hub.worker.pin_guard import PIN_CHECKS_PAUSED, PinGuessGuard
from hub.worker.service import HubService
from tests.hub import ledger_doors as doors
from tests.hub.worker.test_service import Kiosk
from tests.secure_clients import hub_settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
NUMBER = card_schemes.make_card_number("bj-joint", 4712)
PIN = "246802"
READER = ReaderRecord("bj-joint", NUMBER, "王小明", "valid", None, date(2030, 1, 1), "capital")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/guard.sqlite") as led:
        led.add_reader(READER, pin=PIN)
        yield led


@pytest.fixture
def policy() -> Scheme:
    return load_registry().scheme("bj-joint")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def answers_for(ledger: Ledger, clock: Clock, guard: PinGuessGuard | None = None) -> RequestAnswers:
    return RequestAnswers(
        ledger, load_registry(), clock, local_tz=ZoneInfo("Asia/Shanghai"), offline_max_items=2, pin_guard=guard
    )


@pytest.fixture
def answers(ledger: Ledger, clock: Clock) -> RequestAnswers:
    """The hub's default guards (what a worker runs with)."""
    return answers_for(ledger, clock)


@pytest.fixture
def strict(ledger: Ledger, clock: Clock) -> RequestAnswers:
    """A PIN guard that pauses after 6 wrong PINs on 3 cards, to keep the loops short."""
    guard = PinGuessGuard(max_failures=6, suspect_cards=3, window=timedelta(minutes=10), pause=timedelta(minutes=5))
    return answers_for(ledger, clock, guard)


def cards(ledger: Ledger, count: int, first: int = 100, pin: str | None = "975310") -> list[messages.CardRef]:
    refs = []
    for serial in range(first, first + count):
        number = card_schemes.make_card_number("bj-joint", serial)
        ledger.add_reader(ReaderRecord("bj-joint", number, "李四", "valid", None, date(2030, 1, 1), "capital"), pin=pin)
        refs.append(messages.CardRef(scheme="bj-joint", number=number))
    return refs


VICTIM = messages.CardRef(scheme="bj-joint", number=NUMBER)


def try_pin(answers: RequestAnswers, ref: messages.CardRef, pin: str, kiosk: str = "k1") -> messages.Response:
    return answers.answer(messages.PinCheck(op="pin_check", card=ref, pin=pin), kiosk)


def look_up(answers: RequestAnswers, ref: messages.CardRef, kiosk: str = "k1") -> messages.Response:
    return answers.answer(messages.ReaderLookup(op="reader_lookup", card=ref, library_id="capital"), kiosk)


def flags(ledger: Ledger, kiosk: str) -> dict[str, str]:
    return {f.flag: f.detail for f in ledger.kiosk_flags(kiosk)}


def failures(ledger: Ledger, number: str = NUMBER) -> int:
    return ledger.db.scalar("SELECT pin_failures FROM readers WHERE card_hash = ?", (card_hash("bj-joint", number),))


# -- finding 6: the suspect kiosk's wrong PINs count -------------------------------------


def test_a_suspect_kiosks_wrong_pins_still_lock_the_card_and_the_kiosk_is_flagged(
    ledger: Ledger, answers: RequestAnswers, policy: Scheme
) -> None:
    for ref in cards(ledger, 3):  # one wrong PIN on each of three cards: suspect
        try_pin(answers, ref, "123456")
    assert PIN_GUESSING in flags(ledger, "k1")
    verdicts = [try_pin(answers, VICTIM, f"00000{n}") for n in range(policy.pin_max_attempts + 1)]
    assert [v.attempts_left for v in verdicts[:4]] == [4, 3, 2, 1]
    assert verdicts[4].reason_code == "pin_locked" and verdicts[4].locked_until is not None
    assert verdicts[5].reason_code == "pin_locked"  # the 6th: still locked, not one more guess
    assert failures(ledger) == policy.pin_max_attempts
    # even the reader's own right PIN waits for the lock, at any kiosk
    assert try_pin(answers, VICTIM, PIN, kiosk="k2").pin_ok is False


def test_one_card_gets_twenty_guesses_in_all_before_only_staff_can_unlock_it(
    ledger: Ledger, answers: RequestAnswers, clock: Clock, policy: Scheme
) -> None:
    """The ladder: 15 min, 1 h, 24 h, then staff; instead of ~1,000 guesses a day."""
    for _ in range(10):  # far more rounds than the ladder has steps
        for n in range(policy.pin_max_attempts):
            answer = try_pin(answers, VICTIM, f"1{n:05d}")
        if answer.reason_code == "pin_locked_staff":
            break
        clock.now += timedelta(hours=25)
    assert answer.reason_code == "pin_locked_staff" and answer.locked_until is None
    assert failures(ledger) == 4 * policy.pin_max_attempts
    clock.now += timedelta(days=30)
    assert try_pin(answers, VICTIM, PIN, kiosk="k2").reason_code == "pin_locked_staff"
    assert answer.message is not None and "service desk" in answer.message.en


def test_one_pin_tried_across_many_cards_pauses_that_kiosks_pin_checks_and_logs_the_kiosk_only(
    ledger: Ledger, strict: RequestAnswers, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    refs = cards(ledger, 8)
    with caplog.at_level(logging.WARNING, logger="hub.worker.pin_guard"):
        verdicts = [try_pin(strict, ref, "123456") for ref in refs]
    assert [v.pin_ok for v in verdicts[:6]] == [False] * 6
    assert all(v.ok is False and v.error == PIN_CHECKS_PAUSED for v in verdicts[6:])
    # even the right PIN waits, from this kiosk; another kiosk is not affected
    assert try_pin(strict, refs[7], "975310").error == PIN_CHECKS_PAUSED
    assert try_pin(strict, refs[7], "975310", kiosk="k2").pin_ok
    [line] = [r.getMessage() for r in caplog.records]
    assert "kiosk k1" in line and all(ref.number not in line for ref in refs)
    assert "paused" in flags(ledger, "k1")[PIN_GUESSING]
    assert all(ref.number not in flags(ledger, "k1")[PIN_GUESSING] for ref in refs)
    clock.now += timedelta(minutes=5, seconds=1)
    assert try_pin(strict, refs[7], "975310").pin_ok


def test_a_repeated_pause_is_longer(ledger: Ledger, strict: RequestAnswers, clock: Clock) -> None:
    refs = cards(ledger, 6)
    for ref in refs:
        try_pin(strict, ref, "123456")
    clock.now += timedelta(minutes=5, seconds=1)
    for ref in refs:
        try_pin(strict, ref, "123456")
    clock.now += timedelta(minutes=5, seconds=1)
    assert try_pin(strict, refs[0], "975310").error == PIN_CHECKS_PAUSED
    clock.now += timedelta(minutes=5)
    assert try_pin(strict, refs[0], "975310").pin_ok


def test_unknown_card_numbers_count_toward_the_kiosks_pause(ledger: Ledger, strict: RequestAnswers) -> None:
    unknown = [messages.CardRef(scheme="bj-joint", number=card_schemes.make_card_number("bj-joint", n)) for n in range(900, 906)]
    for ref in unknown:
        try_pin(strict, ref, "123456")
    known = cards(ledger, 1)[0]
    assert try_pin(strict, known, "975310").error == PIN_CHECKS_PAUSED


def test_a_reader_mistyping_their_own_pin_is_locked_and_never_pauses_or_flags_the_kiosk(
    ledger: Ledger, strict: RequestAnswers, policy: Scheme
) -> None:
    verdicts = [try_pin(strict, VICTIM, "000000") for _ in range(policy.pin_max_attempts)]
    assert verdicts[-1].locked_until is not None and all(v.ok for v in verdicts)
    other = cards(ledger, 1)[0]
    assert try_pin(strict, other, "975310").pin_ok
    assert flags(ledger, "k1") == {}


# -- "anyone can lock two readers out" -----------------------------------------------------


def test_locking_two_readers_out_pauses_and_flags_the_kiosk_returns_still_work_and_staff_lift_its_locks(
    ledger: Ledger, answers: RequestAnswers, clock: Clock, policy: Scheme, registry: Registry
) -> None:
    first, second = cards(ledger, 2)
    for victim in (first, second):  # two cards: below the "suspect" rule of 3 cards
        for _ in range(policy.pin_max_attempts):
            try_pin(answers, victim, "000000", kiosk="k-evil")
    assert "locked 2 cards" in flags(ledger, "k-evil")[PIN_GUESSING]
    assert try_pin(answers, VICTIM, "000000", kiosk="k-evil").error == PIN_CHECKS_PAUSED
    assert failures(ledger) == 0  # the paused kiosk cannot lock a third reader
    # A lockout only stops PIN checks: books are still taken back, at any kiosk.
    book = catalogue.item_barcode(registry, "capital", 1)
    route = answers.answer(messages.ReturnRoute(op="return_route", item=book, library_id="capital"), "k-evil")
    assert route.ok and route.route is not None
    # Staff, seeing the flag, lift every lock that kiosk made.
    assert ledger.unlock_cards_locked_by("k-evil", clock.now) == 2
    assert try_pin(answers, first, "975310", kiosk="k2").pin_ok
    assert try_pin(answers, second, "975310", kiosk="k2").pin_ok


def test_one_locked_reader_is_a_reader_not_an_attack(ledger: Ledger, answers: RequestAnswers, policy: Scheme) -> None:
    for _ in range(policy.pin_max_attempts):
        try_pin(answers, VICTIM, "000000")
    assert ledger.cards_locked_by("k1", NOW) == 1 and flags(ledger, "k1") == {}


# -- finding 7: walking card numbers --------------------------------------------------------


def walk(answers: RequestAnswers, count: int, kiosk: str = "k-walk", first: int = 5000) -> list[messages.Response]:
    return [
        look_up(answers, messages.CardRef(scheme="bj-joint", number=card_schemes.make_card_number("bj-joint", n)), kiosk)
        for n in range(first, first + count)
    ]


def test_walking_200_card_numbers_gets_the_kiosk_flagged_and_its_card_checks_paused_but_not_returns(
    ledger: Ledger, answers: RequestAnswers, clock: Clock, registry: Registry
) -> None:
    answered = walk(answers, 200)
    told = [a for a in answered if a.ok]
    assert len(told) <= 10 and all(a.state == "unknown" for a in told)
    assert all(a.error == CARD_CHECKS_PAUSED for a in answered[len(told):])
    assert "unknown cards" in flags(ledger, "k-walk")[CARD_WALKING]
    # The same kiosk's PIN checks wait too; its returns are answered; other kiosks are not touched.
    assert try_pin(answers, VICTIM, PIN, kiosk="k-walk").error == CARD_CHECKS_PAUSED
    book = catalogue.item_barcode(registry, "capital", 1)
    assert answers.answer(messages.ReturnRoute(op="return_route", item=book, library_id="capital"), "k-walk").route
    assert look_up(answers, VICTIM, kiosk="k2").state == "valid"
    # After the pause the kiosk is answered again; walking on earns a longer pause.
    clock.now += timedelta(minutes=5, seconds=1)
    assert look_up(answers, VICTIM, kiosk="k-walk").state == "valid"
    walk(answers, 20, first=6000)
    clock.now += timedelta(minutes=5, seconds=1)
    assert look_up(answers, VICTIM, kiosk="k-walk").error == CARD_CHECKS_PAUSED


def test_walking_through_pin_checks_is_caught_the_same_way(ledger: Ledger, answers: RequestAnswers) -> None:
    answered = [
        try_pin(answers, messages.CardRef(scheme="bj-joint", number=card_schemes.make_card_number("bj-joint", n)), "123456", "k-walk")
        for n in range(7000, 7030)
    ]
    assert all(a.error in (CARD_CHECKS_PAUSED, PIN_CHECKS_PAUSED) for a in answered[10:])
    assert {CARD_WALKING, PIN_GUESSING} <= set(flags(ledger, "k-walk"))


def test_more_real_cards_than_a_kiosk_can_serve_is_walking_too(ledger: Ledger, answers: RequestAnswers) -> None:
    refs = cards(ledger, 70, first=300, pin=None)
    answered = [look_up(answers, ref, "k-walk") for ref in refs]
    assert all(a.state == "valid" for a in answered[:59])
    assert all(a.error == CARD_CHECKS_PAUSED for a in answered[60:])
    assert "different cards" in flags(ledger, "k-walk")[CARD_WALKING]


def test_before_the_pin_a_lookup_says_only_whether_the_card_may_go_on(
    ledger: Ledger, answers: RequestAnswers, registry: Registry
) -> None:
    book = catalogue.item_barcode(registry, "capital", 2)
    doors.add_item(ledger, ItemRecord(book, "长恨歌", "capital", "on_shelf", None, True))
    [ack] = ledger.commit(
        messages.Txn(
            txn_id="01HXLOAN00000-k1", kiosk_id="k1", library_id="capital", kind="loan", card=VICTIM, item=book,
            at=NOW, mode="offline", due=NOW + timedelta(days=30),
        ),
        registry, NOW,
    )  # fmt: skip
    assert ack.result == "committed"
    before = look_up(answers, VICTIM)
    assert (before.state, before.allowed, before.pin_required) == ("valid", True, True)
    for field in ("masked_name", "home_library", "loans", "items_left", "session_token", "title"):
        assert getattr(before, field) is None, field
    after = try_pin(answers, VICTIM, PIN)
    assert (after.masked_name, after.home_library) == ("王*明", "capital")
    assert [(line.item, line.title) for line in after.loans or []] == [(book, "长恨歌")]


# -- over the secure lab broker ------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def wire(lab: Lab, broker: MosquittoProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubService, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('guard-wire')}/hub.sqlite"
    config = hub_settings(lab, "guard-wire", request_burst=1000, seed_per_member=3)
    with Ledger.open(url, config.pin_pepper_file) as led:
        led.seed_demo(load_registry(), per_member=3)
    service = HubService(broker.url, url, load_registry(), "guard-wire", config=config).start()
    yield service, url
    service.retire()


def lookup_of(number: str) -> messages.ReaderLookup:
    return messages.ReaderLookup(
        op="reader_lookup", library_id="capital", card=messages.CardRef(scheme="bj-joint", number=number)
    )


def demo_reader(registry: Registry) -> catalogue.DemoReader:
    return next(r for r in catalogue.generate_readers(registry) if r.scheme == "bj-joint" and r.state == "valid")


def test_on_the_secure_broker_the_lookup_before_the_pin_carries_no_name_or_loans(
    lab: Lab, broker: MosquittoProcess, wire: tuple[HubService, str], registry: Registry
) -> None:
    reader = demo_reader(registry)
    ref = messages.CardRef(scheme=reader.scheme, number=reader.number)
    kiosk = Kiosk(lab, broker, f"k-{secrets.token_hex(4)}")
    try:
        before = kiosk.request(messages.ReaderLookup(op="reader_lookup", card=ref, library_id="capital"))
        assert (before.state, before.pin_required) == ("valid", True)
        assert (before.masked_name, before.loans, before.home_library, before.items_left) == (None, None, None, None)
        after = kiosk.request(messages.PinCheck(op="pin_check", card=ref, pin=reader.pin))
        assert after.pin_ok and after.masked_name and after.loans is not None and after.items_left is not None
        assert reader.name not in after.model_dump_json()
    finally:
        kiosk.close()


def test_on_the_secure_broker_walking_200_numbers_gets_the_kiosk_paused_and_flagged_in_hub_status(
    lab: Lab, broker: MosquittoProcess, wire: tuple[HubService, str], registry: Registry
) -> None:
    _, url = wire
    kiosk = Kiosk(lab, broker, f"k-walk-{secrets.token_hex(3)}")
    try:
        kiosk.publish("state", messages.KioskState(state="online", firmware="test", library_id="capital"))
        answered = [kiosk.request(lookup_of(card_schemes.make_card_number("bj-joint", n))) for n in range(20_000, 20_200)]
        assert sum(1 for a in answered if a.ok) <= 10
        assert answered[-1].error == CARD_CHECKS_PAUSED
        book = catalogue.item_barcode(registry, "xicheng", 1)
        assert kiosk.request(messages.ReturnRoute(op="return_route", item=book, library_id="capital")).route
    finally:
        kiosk.close()
    out = subprocess.run(
        [sys.executable, "-m", "hub", "status", "--db", url, "--json"], cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    [row] = [k for k in json.loads(out.stdout)["kiosks"] if k["kiosk_id"] == kiosk.kiosk_id]
    assert CARD_WALKING in row["flags"]


# -- staff: hub pin unlock ------------------------------------------------------------------


def run_hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_hub_pin_unlock_lifts_a_lockout_and_prints_the_card_masked(
    tmp_path: Path, ledger: Ledger, answers: RequestAnswers, policy: Scheme
) -> None:
    for _ in range(policy.pin_max_attempts):
        try_pin(answers, VICTIM, "000000")
    assert try_pin(answers, VICTIM, PIN, kiosk="k2").reason_code == "pin_locked"
    db = f"sqlite:///{tmp_path}/guard.sqlite"
    out = run_hub("pin", "unlock", "bj-joint", NUMBER, "--db", db)
    assert out.returncode == 0, out.stderr
    assert mask_card(NUMBER) in out.stdout and "unlocked" in out.stdout and NUMBER not in out.stdout
    assert try_pin(answers, VICTIM, PIN, kiosk="k2").pin_ok
    again = run_hub("pin", "unlock", "--card", NUMBER, "--db", db)
    assert again.returncode == 0 and "was not locked" in again.stdout


def test_hub_pin_unlock_refuses_what_is_no_card_and_says_so(tmp_path: Path, ledger: Ledger) -> None:
    db = f"sqlite:///{tmp_path}/guard.sqlite"
    bad = run_hub("pin", "unlock", "bj-joint", "0110000012340", "--db", db)
    assert bad.returncode == 2 and "not a valid bj-joint card number" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run_hub("pin", "unlock", "bj-joint", card_schemes.make_card_number("bj-joint", 999), "--db", db)
    assert unknown.returncode == 1 and "no bj-joint card" in unknown.stderr
    kiosk = run_hub("pin", "unlock", "--kiosk", "k-evil", "--db", db)
    assert kiosk.returncode == 0 and "lifted 0 lock(s) made by kiosk k-evil" in kiosk.stdout
