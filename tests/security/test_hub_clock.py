"""The hub's clock decides (issue 16, finding 3; Deliver 3), as attacks that must fail:
a kiosk's telemetry claiming its clock runs 400 days ahead, then an offline loan dated
400 days ahead (committed clean, due in 2028, before); a return back-dated 60 days
(closed before it was opened); a session token reused after its expiry with `at` set
back inside its window; a telemetry `at` in year 9999 (every later txn failed with
OverflowError). Real ledger on SQLite; the first attack also end to end on the lab's
secure broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract import messages
from hub.cli import fleet
from hub.ledger import kiosk_flags
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.intake import Intake
from tests.security.test_txn_checks import (
    KIOSK,
    NOW,
    book,
    exception_reasons,
    reader,
    session_token,
    txn,
)
from tests.security.wire_kiosk import Clock, Kiosks, WireHub, hub_at, wait_until

LOAN_DAYS = 42  # the joint card's (contract/data/schemes.toml)


def telemetry(intake: Intake, at: datetime) -> None:
    intake.record_telemetry(KIOSK, messages.encode(messages.Telemetry(at=at, journal_pending=0)))


def loans_of(ledger: Ledger, item: str) -> list[tuple[str, str | None]]:
    return [tuple(r) for r in ledger.db.query("SELECT opened_at, closed_at FROM loans WHERE item = ?", (item,))]


# ---------------------------------------------------------------- the clock offset


def test_a_kiosk_whose_telemetry_says_400_days_ahead_is_flagged_clock_off_in_hub_status(
    intake: Intake, ledger: Ledger
) -> None:
    telemetry(intake, NOW + timedelta(days=400))
    [flag] = ledger.kiosk_flags(KIOSK)
    assert flag.flag == kiosk_flags.CLOCK_OFF
    assert "limit 300 s" in flag.detail
    assert "clock_off" in fleet.fleet_table(ledger.fleet(), NOW)


def test_an_offline_loan_dated_400_days_ahead_after_such_telemetry_is_an_exception_due_by_the_rule(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    ahead = timedelta(days=400)
    telemetry(intake, NOW + ahead)
    card, item = reader(ledger, 1), book(registry, 1)
    at = NOW + ahead
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, due=(at + timedelta(days=LOAN_DAYS)).isoformat()))
    assert (ack.result, ack.exception) == ("committed", "kiosk_clock_off")
    assert exception_reasons(ledger, ack) == {"kiosk_clock_off", "at_in_future", "due_beyond_loan_period"}
    rule_due = rules.due_after(NOW, LOAN_DAYS)  # from the hub's receipt, not from 400 days on
    assert ack.due == rule_due
    loan = ledger.active_loan_for_item(item)
    assert loan is not None and loan.due == rule_due
    [(opened_at, _closed)] = loans_of(ledger, item)
    assert datetime.fromisoformat(opened_at) == NOW  # placed at the hub's receipt, never re-dated


def test_within_the_limit_the_offset_corrects_the_kiosks_at_and_the_txn_is_clean(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    clock.now = NOW - timedelta(hours=1)
    telemetry(intake, clock.now + timedelta(minutes=4))
    card, item = reader(ledger, 2), book(registry, 2)
    clock.now = NOW + timedelta(hours=1)  # an offline loan reaches the hub after the outage
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW + timedelta(minutes=4)))
    assert (ack.result, ack.exception) == ("committed", None)
    [(opened_at, _closed)] = loans_of(ledger, item)
    assert datetime.fromisoformat(opened_at) == NOW
    assert ledger.kiosk_flags(KIOSK) == []


def test_the_clock_limit_follows_the_setting(ledger: Ledger, registry: Registry, clock: Clock) -> None:
    hub = hub_at(ledger, registry, clock, max_clock_offset_s=3600)
    hub.record_telemetry(KIOSK, messages.encode(messages.Telemetry(at=NOW + timedelta(minutes=30), journal_pending=0)))
    [ack] = hub.handle_txn(KIOSK, txn("return", book(registry, 1), None, NOW + timedelta(minutes=30)))
    assert (ack.result, ack.exception) == ("committed", None)
    assert ledger.kiosk_flags(KIOSK) == []


def test_an_online_txn_of_a_kiosk_whose_clock_is_off_is_an_exception_too(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    telemetry(intake, NOW - timedelta(hours=3))
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 3), None, NOW - timedelta(hours=3), mode="online"))
    assert (ack.result, ack.exception) == ("committed", "kiosk_clock_off")


# ---------------------------------------------------------------- back-dated returns


def _lend(intake: Intake, ledger: Ledger, registry: Registry, serial: int, at: datetime) -> tuple[dict[str, str], str]:
    card, item = reader(ledger, serial), book(registry, serial)
    [loan] = intake.handle_txn(KIOSK, txn("loan", item, card, at))
    assert (loan.result, loan.exception) == ("committed", None)
    return card, item


def test_a_return_back_dated_60_days_is_an_exception_and_the_loan_is_not_closed_before_it_was_opened(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    """At the kiosk that lent it: the book is in its chute, so the return is taken, but
    placed after the kiosk's loan, not 60 days before it."""
    _card, item = _lend(intake, ledger, registry, 3, NOW - timedelta(hours=1))
    [ack] = intake.handle_txn(KIOSK, txn("return", item, None, NOW - timedelta(days=60)))
    assert (ack.result, ack.exception) == ("committed", "at_beyond_offline_window")
    assert exception_reasons(ledger, ack) == {"at_beyond_offline_window"}
    [(opened_at, closed_at)] = loans_of(ledger, item)
    assert closed_at is not None and closed_at >= opened_at


def test_a_return_back_dated_60_days_at_another_kiosk_leaves_the_loan_open(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    """Placed at the start of the offline window, it comes before the loan: it closes
    nothing, and staff see why."""
    _card, item = _lend(intake, ledger, registry, 2, NOW - timedelta(hours=1))
    other = txn("return", item, None, NOW - timedelta(days=60), kiosk_id="k-other", txn_id="k-other-0123456789")
    [ack] = intake.handle_txn("k-other", other)
    assert (ack.result, ack.exception) == ("committed", "at_beyond_offline_window")
    assert ledger.active_loan_for_item(item) is not None  # the loan is still open
    for opened_at, closed_at in loans_of(ledger, item):
        assert closed_at is None or closed_at >= opened_at


def test_the_telemetry_trick_cannot_back_date_a_return(intake: Intake, ledger: Ledger, registry: Registry) -> None:
    """The attack as found: telemetry claims the kiosk runs 60 days ahead, so the hub
    would subtract 60 days from a return dated now."""
    _card, item = _lend(intake, ledger, registry, 1, NOW - timedelta(hours=1))
    telemetry(intake, NOW + timedelta(days=60))
    [ack] = intake.handle_txn(KIOSK, txn("return", item, None, NOW))
    assert (ack.result, ack.exception) == ("committed", "kiosk_clock_off")
    [(opened_at, closed_at)] = loans_of(ledger, item)
    assert closed_at is not None and closed_at >= opened_at  # closed now, after it opened
    assert datetime.fromisoformat(closed_at) == NOW


def test_an_offline_txn_dated_before_its_kiosks_last_row_is_an_exception_placed_after_it(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    epoch = "ab" * 8
    first = txn("return", book(registry, 1), None, NOW - timedelta(hours=1), seq=1, epoch=epoch)
    earlier = txn("return", book(registry, 2), None, NOW - timedelta(hours=3), seq=2, epoch=epoch)
    assert intake.handle_txn(KIOSK, first)[0].exception is None
    [ack] = intake.handle_txn(KIOSK, earlier)
    assert (ack.result, ack.exception) == ("committed", "at_before_last_row")
    order_at = ledger.db.scalar("SELECT order_at FROM txns WHERE txn_id = ?", (ack.txn_id,))
    assert datetime.fromisoformat(order_at) == NOW - timedelta(hours=1)


def test_rows_of_one_kiosk_a_little_out_of_clock_order_are_clean(
    intake: Intake, ledger: Ledger, registry: Registry
) -> None:
    """An NTP step back of a minute between two rows is a clock, not an attack."""
    epoch = "cd" * 8
    intake.handle_txn(KIOSK, txn("return", book(registry, 1), None, NOW - timedelta(minutes=10), seq=1, epoch=epoch))
    [ack] = intake.handle_txn(KIOSK, txn("return", book(registry, 2), None, NOW - timedelta(minutes=11), seq=2, epoch=epoch))
    assert ack.exception is None


# ---------------------------------------------------------------- session tokens at receipt


def test_an_expired_token_reused_with_at_set_back_inside_its_window_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card, item = reader(ledger, 4), book(registry, 1)
    token = session_token(ledger, registry, card, NOW)  # good until NOW + 15 min
    intake.handle_request(KIOSK, messages.encode(messages.Blocklist(op="blocklist")))  # the kiosk is there
    clock.now = NOW + timedelta(minutes=10)
    intake.handle_request(KIOSK, messages.encode(messages.Blocklist(op="blocklist")))  # and still there
    clock.now = NOW + timedelta(hours=2)
    at = NOW + timedelta(minutes=1)  # set back inside the token's window
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, at, mode="online", session_token=token))
    assert (ack.result, ack.exception) == ("committed", "session_token_expired_at_receipt")
    assert exception_reasons(ledger, ack) == {"session_token_expired_at_receipt"}


def test_an_online_loan_held_in_the_journal_through_an_outage_commits_clean(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card, item = reader(ledger, 5), book(registry, 2)
    token = session_token(ledger, registry, card, NOW)
    intake.handle_request(KIOSK, messages.encode(messages.Blocklist(op="blocklist")))
    # The loan at NOW + 1 min; the link dropped; the kiosk came back two hours later.
    clock.now = NOW + timedelta(hours=2)
    intake.record_state(KIOSK, messages.encode(messages.KioskState(state="online", library_id="capital")))
    clock.now += timedelta(seconds=20)  # its journal drains
    [ack] = intake.handle_txn(
        KIOSK, txn("loan", item, card, NOW + timedelta(minutes=1), mode="online", session_token=token)
    )
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_held_online_loan_delivered_long_after_the_kiosk_came_back_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card, item = reader(ledger, 6), book(registry, 3)
    token = session_token(ledger, registry, card, NOW)
    clock.now = NOW + timedelta(hours=2)
    intake.record_state(KIOSK, messages.encode(messages.KioskState(state="online", library_id="capital")))
    clock.now += timedelta(minutes=30)  # the grace after reconnecting is 120 s
    [ack] = intake.handle_txn(
        KIOSK, txn("loan", item, card, NOW + timedelta(minutes=1), mode="online", session_token=token)
    )
    assert ack.exception == "session_token_expired_at_receipt"


# ---------------------------------------------------------------- hostile telemetry


@pytest.mark.parametrize("far", [datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)])
def test_a_telemetry_at_at_the_end_of_the_calendar_crashes_nothing(
    intake: Intake, ledger: Ledger, registry: Registry, far: datetime
) -> None:
    telemetry(intake, far)
    card, item = reader(ledger, 7), book(registry, 1)
    [loan] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    [back] = intake.handle_txn(KIOSK, txn("return", item, None, NOW, mode="online"))
    assert (loan.result, back.result) == ("committed", "committed")
    assert intake.stats.errors == 0
    fleet.fleet_table(ledger.fleet(), NOW)  # `hub status` shows it
    if intake.stats.invalid == 0:  # taken (a parser that bounds `at` refuses it instead)
        assert loan.exception == back.exception == "kiosk_clock_off"
        assert "clock_off" in fleet.fleet_table(ledger.fleet(), NOW)


# ---------------------------------------------------------------- end to end


def test_on_the_secure_broker_400_days_of_telemetry_then_a_loan_400_days_ahead_is_an_exception(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    kiosk = kiosks(prefix="k-clock")
    card = reader(wire_hub.ledger, 11)
    item = book(registry, 2)
    ahead = timedelta(days=400)
    kiosk.telemetry(datetime.now(UTC) + ahead)
    assert wait_until(lambda: bool(wire_hub.ledger.kiosk_flags(kiosk.kiosk_id))), "no clock_off flag"
    at = datetime.now(UTC) + ahead
    ack = kiosk.send_txn(kiosk.txn_doc("loan", item, card, at, due=at + timedelta(days=LOAN_DAYS)))
    assert (ack.result, ack.exception) == ("committed", "kiosk_clock_off")
    assert ack.due is not None and ack.due <= rules.due_after(datetime.now(UTC), LOAN_DAYS)
    assert "clock_off" in fleet.fleet_table(wire_hub.ledger.fleet(), datetime.now(UTC))
    # And a telemetry `at` of year 9999 leaves the kiosk served.
    kiosk.telemetry(datetime(9999, 12, 31, tzinfo=UTC))
    back = kiosk.send_txn(kiosk.txn_doc("return", item, None, datetime.now(UTC), mode="online"))
    assert back.result == "committed"
    assert wire_hub.service.stats.errors == 0


def test_on_the_secure_broker_a_return_back_dated_60_days_does_not_close_the_loan_before_it_opened(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    lender, other = kiosks(prefix="k-lend"), kiosks(prefix="k-back")
    card, item = reader(wire_hub.ledger, 12), book(registry, 3)
    now = datetime.now(UTC)
    loan = lender.send_txn(lender.txn_doc("loan", item, card, now - timedelta(hours=1)))
    assert (loan.result, loan.exception) == ("committed", None)
    back = other.send_txn(other.txn_doc("return", item, None, now - timedelta(days=60)))
    assert (back.result, back.exception) == ("committed", "at_beyond_offline_window")
    assert wire_hub.ledger.active_loan_for_item(item) is not None
    rows = wire_hub.ledger.db.query("SELECT opened_at, closed_at FROM loans WHERE item = ?", (item,))
    assert all(closed is None or closed >= opened for opened, closed in rows)


def test_on_the_secure_broker_an_expired_token_reused_with_at_set_back_is_an_exception(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    kiosk = kiosks(prefix="k-token")
    card, item = reader(wire_hub.ledger, 13), book(registry, 1)
    issued = datetime.now(UTC)
    pin = kiosk.ask(messages.PinCheck(op="pin_check", card=messages.CardRef(**card), pin="123456"))
    assert pin.pin_ok and pin.session_token
    wire_hub.clock.shift = timedelta(minutes=10)
    assert kiosk.ask(messages.Blocklist(op="blocklist")).ok  # the kiosk is there, connected
    wire_hub.clock.shift = timedelta(minutes=20)  # the 15-minute token has expired
    doc = kiosk.txn_doc(
        "loan", item, card, issued + timedelta(minutes=1), mode="online", session_token=pin.session_token
    )
    ack = kiosk.send_txn(doc)
    assert (ack.result, ack.exception) == ("committed", "session_token_expired_at_receipt")


@pytest.mark.parametrize("far", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
@pytest.mark.parametrize("mode", ["offline", "online"])
@pytest.mark.parametrize("kind", ["loan", "return", "renew"])
def test_a_txn_dated_at_the_ends_of_the_calendar_crashes_nothing(
    intake: Intake, ledger: Ledger, registry: Registry, far: datetime, mode: str, kind: str
) -> None:
    card = reader(ledger, 8)
    token = session_token(ledger, registry, card) if mode == "online" else None
    due = far.isoformat() if kind != "return" else None
    raw = txn(kind, book(registry, 1), None if kind == "return" else card, far, mode=mode, session_token=token, due=due)
    [ack] = intake.handle_txn(KIOSK, raw)  # answered, whatever the answer
    assert ack.result in ("committed", "rejected")
    if ack.result == "committed" and kind == "loan":
        assert ack.exception is not None  # never a clean commit
        loan = ledger.active_loan_for_item(book(registry, 1))
        assert loan is not None and loan.due <= rules.due_after(NOW, LOAN_DAYS)
