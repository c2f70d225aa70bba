"""Offline means offline (issue 16, finding 3; Deliver 4), as attacks that must fail: an
"offline" loan (no PIN, no session token) while the kiosk is demonstrably talking to
the hub; more offline loans per card or per kiosk than the offline policy allows; an
offline loan on a blocked card. Each is committed (the reader keeps the book) as an
exception for staff with its reason. And the honest cases stay clean: a loan made in an
outage, even one that began a second before. Real ledger on SQLite; the first attack
also end to end on the lab's secure broker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from contract import card_schemes, messages
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.pki.pki import init_pki
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.intake import Intake
from tests.hub import ledger_doors as doors
from tests.security.test_txn_checks import (
    KIOSK,
    NOW,
    book,
    exception_reasons,
    reader,
    txn,
)
from tests.security.wire_kiosk import Clock, Kiosks, WireHub, hub_at, wait_until

BLOCKLIST = messages.encode(messages.Blocklist(op="blocklist"))


def at_moment(clock: Clock, moment: datetime, intake: Intake, what: str) -> None:
    """The kiosk does `what` (a request, or a state message) when the hub's clock says `moment`."""
    clock.now = moment
    if what == "request":
        assert intake.handle_request(KIOSK, BLOCKLIST).ok
    else:
        intake.record_state(KIOSK, messages.encode(messages.KioskState(state=what, library_id="capital")))  # type: ignore[arg-type]


# ---------------------------------------------------------------- offline while online


def test_an_offline_loan_dated_while_the_kiosk_was_asking_the_hub_is_an_exception_and_the_reader_keeps_it(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card, item = reader(ledger, 1), book(registry, 1)
    for seconds in (-8, -3, 4, 9):  # requests around the loan, answered
        at_moment(clock, NOW + timedelta(seconds=seconds), intake, "request")
    clock.now = NOW + timedelta(minutes=5)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    assert (ack.result, ack.exception) == ("committed", "offline_while_online")
    assert exception_reasons(ledger, ack) == {"offline_while_online"}
    assert ledger.item(item).state == "on_loan"


def test_an_offline_loan_sent_at_once_by_a_kiosk_the_hub_just_answered_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    """The attacker publishes "offline" loans while connected, asking nothing after them."""
    card, item = reader(ledger, 2), book(registry, 2)
    at_moment(clock, NOW - timedelta(seconds=2), intake, "request")
    clock.now = NOW + timedelta(seconds=1)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    assert ack.exception == "offline_while_online"


def test_an_offline_loan_inside_an_outage_the_broker_saw_is_clean(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card, item = reader(ledger, 3), book(registry, 3)
    at_moment(clock, NOW - timedelta(seconds=40), intake, "request")
    at_moment(clock, NOW - timedelta(seconds=5), intake, "offline")  # the kiosk's will
    at_moment(clock, NOW + timedelta(seconds=3), intake, "online")  # back
    clock.now = NOW + timedelta(seconds=4)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_loan_a_second_after_the_link_dropped_sent_on_reconnecting_is_clean(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    """The broker never noticed (no will): the kiosk's fresh "online" state on
    reconnecting ends the session the hub heard it in before."""
    card, item = reader(ledger, 4), book(registry, 1)
    at_moment(clock, NOW - timedelta(seconds=3), intake, "request")
    at_moment(clock, NOW + timedelta(seconds=5), intake, "online")
    clock.now = NOW + timedelta(seconds=5, milliseconds=100)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, card, NOW))
    assert (ack.result, ack.exception) == ("committed", None)


def test_a_retained_state_replayed_to_a_starting_worker_is_not_presence(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    raw = messages.encode(messages.KioskState(state="online", library_id="capital"))
    intake.record_state(KIOSK, raw, retained=True)
    assert doors.presence(ledger, KIOSK) == []
    intake.record_state(KIOSK, raw)
    assert [(start, end) for start, end, _closed in doors.presence(ledger, KIOSK)] == [(NOW, NOW)]


def test_presence_is_kept_as_intervals_and_an_offline_state_ends_one(
    intake: Intake, ledger: Ledger, clock: Clock
) -> None:
    for seconds in (0, 4, 8):
        at_moment(clock, NOW + timedelta(seconds=seconds), intake, "request")
    at_moment(clock, NOW + timedelta(seconds=9), intake, "offline")
    at_moment(clock, NOW + timedelta(seconds=12), intake, "request")  # 3 s later: a new one
    at_moment(clock, NOW + timedelta(seconds=60), intake, "request")  # beyond the margin: another
    assert doors.presence(ledger, KIOSK) == [
        (NOW, NOW + timedelta(seconds=8), True),
        (NOW + timedelta(seconds=12), NOW + timedelta(seconds=12), False),
        (NOW + timedelta(seconds=60), NOW + timedelta(seconds=60), False),
    ]


def test_an_unenrolled_kiosk_leaves_no_presence(
    tmp_path: Path, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    root = tmp_path / "pki"
    init_pki(root)
    hub = hub_at(ledger, registry, clock, pki_dir=root)
    hub.record_telemetry("k-stranger", messages.encode(messages.Telemetry(at=NOW, journal_pending=0)))
    hub.record_state("k-stranger", messages.encode(messages.KioskState(state="online", library_id="capital")))
    assert doors.presence(ledger, "k-stranger") == []


def test_the_presence_margin_follows_the_setting(ledger: Ledger, registry: Registry, clock: Clock) -> None:
    hub = hub_at(ledger, registry, clock, offline_presence_margin_s=60)
    card, item = reader(ledger, 5), book(registry, 2)
    for seconds in (-25, 25):  # 50 s apart: one interval with a 60 s margin (two with 10 s)
        at_moment(clock, NOW + timedelta(seconds=seconds), hub, "request")
    clock.now = NOW + timedelta(minutes=10)
    [ack] = hub.handle_txn(KIOSK, txn("loan", item, card, NOW))
    assert ack.exception == "offline_while_online"


# ---------------------------------------------------------------- the offline policy


def test_more_offline_loans_on_one_card_than_the_policy_allows_is_an_exception(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card = reader(ledger, 6)
    clock.now = NOW + timedelta(hours=1)  # the backlog after an outage
    items = [book(registry, n) for n in (1, 2, 3)] + [catalogue_book(registry, "dongcheng", 1)]
    acks = [intake.handle_txn(KIOSK, txn("loan", item, card, NOW + timedelta(minutes=n)))[0] for n, item in enumerate(items)]
    assert [a.exception for a in acks[:3]] == [None, None, None]  # offline_max_items = 3
    assert (acks[3].result, acks[3].exception) == ("committed", "offline_over_card_limit")
    assert ledger.item(items[3]).state == "on_loan"  # the reader keeps it


def test_a_reader_who_returned_an_offline_loan_may_borrow_another_offline(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    card = reader(ledger, 7)
    clock.now = NOW + timedelta(hours=1)
    for n in (1, 2, 3):
        intake.handle_txn(KIOSK, txn("loan", book(registry, n), card, NOW + timedelta(minutes=n)))
    intake.handle_txn(KIOSK, txn("return", book(registry, 1), None, NOW + timedelta(minutes=10)))
    [ack] = intake.handle_txn(KIOSK, txn("loan", catalogue_book(registry, "dongcheng", 1), card, NOW + timedelta(minutes=11)))
    assert ack.exception is None


def test_more_offline_loans_from_one_kiosk_in_an_hour_than_allowed_is_an_exception(
    ledger: Ledger, registry: Registry, clock: Clock
) -> None:
    hub = hub_at(ledger, registry, clock, offline_loans_per_kiosk_hour=2)
    clock.now = NOW + timedelta(hours=2)
    acks = [
        hub.handle_txn(KIOSK, txn("loan", book(registry, n), reader(ledger, 10 + n), NOW + timedelta(minutes=n)))[0]
        for n in (1, 2, 3)
    ]
    assert [a.exception for a in acks] == [None, None, "offline_over_kiosk_limit"]
    # An hour later the kiosk may lend again.
    [later] = hub.handle_txn(
        KIOSK, txn("loan", catalogue_book(registry, "dongcheng", 1), reader(ledger, 20), NOW + timedelta(minutes=70))
    )
    assert later.exception is None


@pytest.mark.parametrize(("block_reason", "reason"), [("lost", "card_blocked_lost"), ("fees", "card_blocked_fees")])
def test_an_offline_loan_on_a_blocked_card_is_an_exception_and_the_reader_keeps_the_book(
    intake: Intake, ledger: Ledger, registry: Registry, clock: Clock, block_reason: str, reason: str
) -> None:
    number = card_schemes.make_card_number("bj-joint", 30)
    ledger.add_reader(rules.ReaderRecord("bj-joint", number, "王小明", "blocked", block_reason, date(2030, 1, 1), "capital"))
    item = book(registry, 1)
    clock.now = NOW + timedelta(hours=1)
    [ack] = intake.handle_txn(KIOSK, txn("loan", item, {"scheme": "bj-joint", "number": number}, NOW))
    assert (ack.result, ack.exception) == ("committed", reason)
    assert ledger.item(item).state == "on_loan"


def catalogue_book(registry: Registry, library: str, serial: int) -> str:
    return catalogue.item_barcode(registry, library, serial)


# ---------------------------------------------------------------- end to end


def test_on_the_secure_broker_an_offline_loan_from_a_kiosk_the_hub_is_answering_is_an_exception(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    kiosk = kiosks(prefix="k-offl")
    card, item = reader(wire_hub.ledger, 40), book(registry, 3)
    assert kiosk.ask(messages.Blocklist(op="blocklist")).ok  # the hub answers it
    ack = kiosk.send_txn(kiosk.txn_doc("loan", item, card, datetime.now(UTC)))
    assert (ack.result, ack.exception) == ("committed", "offline_while_online")
    assert wire_hub.ledger.item(item).state == "on_loan"


def test_on_the_secure_broker_a_loan_made_while_the_kiosk_was_away_is_clean(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    kiosk = kiosks(prefix="k-away")
    card, item = reader(wire_hub.ledger, 41), book(registry, 2)
    assert kiosk.ask(messages.Blocklist(op="blocklist")).ok
    kiosk.state("offline")  # as its will says when its link drops
    assert wait_until(lambda: any(closed for _s, _e, closed in doors.presence(wire_hub.ledger, kiosk.kiosk_id)))
    lent_at = datetime.now(UTC)
    kiosk.state("online")  # back: a new session
    ack = kiosk.send_txn(kiosk.txn_doc("loan", item, card, lent_at))
    assert (ack.result, ack.exception) == ("committed", None)


def test_on_the_secure_broker_a_fourth_offline_loan_on_one_card_is_an_exception(
    wire_hub: WireHub, kiosks: Kiosks, registry: Registry
) -> None:
    kiosk = kiosks(prefix="k-limit")
    card = reader(wire_hub.ledger, 42)
    items = [book(registry, n) for n in (1, 2, 3)] + [catalogue_book(registry, "dongcheng", 2)]
    lent_at = datetime.now(UTC) - timedelta(hours=1)  # in an outage, sent on reconnecting
    acks = [kiosk.send_txn(kiosk.txn_doc("loan", item, card, lent_at + timedelta(minutes=n))) for n, item in enumerate(items)]
    assert [a.exception for a in acks] == [None, None, None, "offline_over_card_limit"]
    assert wire_hub.ledger.item(items[3]).state == "on_loan"
