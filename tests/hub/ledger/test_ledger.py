"""The ledger commits each txn once, keeps offline conflicts for staff, and follows the
loan rules, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from contract import card_schemes, messages, privacy
from hub.ledger.ledger import Ledger, LedgerUrlError
from hub.rules import rules
from hub.rules.registry import Registry
from tests.hub import ledger_doors as doors

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def card(scheme: str, serial: int) -> messages.CardRef:
    return messages.CardRef(scheme=scheme, number=card_schemes.make_card_number(scheme, serial))


def add_reader(
    led: Ledger,
    ref: messages.CardRef,
    state: str = "valid",
    block_reason: str | None = None,
    pin: str | None = "123456",
) -> str:
    reader = rules.ReaderRecord(
        scheme=ref.scheme,
        number=ref.number,
        name="王小明",
        state=state,
        block_reason=block_reason,
        expires=date(2030, 1, 1),
        home_library="capital",
    )
    return led.add_reader(reader, pin=pin)


def add_item(
    led: Ledger,
    registry: Registry,
    library: str,
    serial: int,
    state: str = "on_shelf",
    hold_for: str | None = None,
) -> str:
    barcode = card_schemes.make_item_barcode(registry.member(library).institution_code, serial)
    doors.add_item(led, rules.ItemRecord(barcode, f"Book {serial}", library, state, hold_for))
    return barcode


def txn(
    kind: str,
    item: str,
    ref: messages.CardRef | None,
    library: str = "capital",
    mode: str = "online",
    txn_id: str | None = None,
    at: datetime = NOW,
    due: datetime | None = None,
    route: str | None = None,
) -> messages.Txn:
    return messages.Txn(
        txn_id=txn_id or f"k1-{secrets.token_hex(8)}",
        kiosk_id="k1",
        library_id=library,
        kind=kind,
        card=ref,
        item=item,
        at=at,
        mode=mode,
        due=due,
        route=route,
    )


def test_a_repeated_txn_leaves_one_row_and_gets_the_same_ack(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 1)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "capital", 1)
    t = txn("loan", book, ref)
    first = doors.commit_txn(ledger, t, registry, NOW)
    again = doors.commit_txn(ledger, t, registry, NOW + timedelta(minutes=5))
    assert first.result == "committed"
    assert again.result == "duplicate"
    assert again.model_copy(update={"result": "committed"}) == first
    assert doors.txn_rows(ledger, t.txn_id) == 1
    assert ledger.count("loans") == 1
    assert ledger.ledger_counts([t.txn_id, "never-sent-0001"]) == {
        t.txn_id: 1,
        "never-sent-0001": 0,
    }


def test_online_loans_get_the_hubs_due_date_not_the_kiosks(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 2)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "capital", 2)
    wrong_due = NOW + timedelta(days=365)
    ack = doors.commit_txn(ledger, txn("loan", book, ref, due=wrong_due), registry, NOW)
    expected = rules.due_after(NOW, registry.scheme("bj-joint").loan_days)
    assert ack.due == expected
    assert ledger.active_loan_for_item(book).due == expected
    assert ledger.item(book).state == "on_loan"


def test_a_double_scan_under_a_new_txn_id_makes_no_second_loan(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 3)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "capital", 3)
    first = doors.commit_txn(ledger, txn("loan", book, ref), registry, NOW)
    second = doors.commit_txn(ledger, txn("loan", book, ref), registry, NOW)
    assert second.result == "committed" and second.due == first.due
    assert ledger.count("loans") == 1


def test_an_offline_loan_of_a_book_on_loan_to_someone_else_becomes_an_exception(
    ledger: Ledger, registry: Registry
) -> None:
    alice, bob = card("bj-joint", 10), card("bj-joint", 11)
    add_reader(ledger, alice)
    add_reader(ledger, bob)
    book = add_item(ledger, registry, "capital", 10)
    doors.commit_txn(ledger, txn("loan", book, alice), registry, NOW)
    offline = txn("loan", book, bob, mode="offline", at=NOW + timedelta(hours=1))
    ack = doors.commit_txn(ledger, offline, registry, NOW + timedelta(hours=2))
    assert ack.result == "committed"
    assert ack.exception == "item_on_loan"
    [row] = ledger.exceptions()
    assert (row.txn_id, row.reason) == (offline.txn_id, "item_on_loan")
    assert bob.number not in row.summary and alice.number not in row.summary
    assert ledger.active_loan_for_item(book).card_hash == privacy.card_hash(
        alice.scheme, alice.number
    )
    assert doors.commit_txn(ledger, offline, registry, NOW).result == "duplicate"
    assert len(ledger.exceptions()) == 1


def test_an_offline_loan_by_a_blocked_reader_is_kept_with_the_book_and_flagged(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 12)
    add_reader(ledger, ref, state="blocked", block_reason="fees")
    book = add_item(ledger, registry, "capital", 12)
    shown = NOW + timedelta(days=30)
    ack = doors.commit_txn(ledger, txn("loan", book, ref, mode="offline", due=shown), registry, NOW)
    assert (ack.result, ack.exception) == ("committed", "card_blocked_fees")
    assert ledger.active_loan_for_item(book).due == shown  # the promise the reader was given
    assert [e.reason for e in ledger.exceptions()] == ["card_blocked_fees"]


def test_an_offline_loan_of_an_unknown_book_is_an_exception_not_a_loss(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 13)
    add_reader(ledger, ref)
    ack = doors.commit_txn(ledger, txn("loan", "30002999999990", ref, mode="offline"), registry, NOW)
    assert (ack.result, ack.exception) == ("committed", "item_unknown")
    assert ledger.count("loans") == 0 and doors.txn_rows(ledger) == 1


def test_cross_scheme_borrowing_follows_each_members_recognition(
    ledger: Ledger, registry: Registry
) -> None:
    nlc_card = card("nlc", 20)
    add_reader(ledger, nlc_card)
    at_capital = add_item(ledger, registry, "capital", 20)
    at_dongcheng = add_item(ledger, registry, "dongcheng", 20)
    assert registry.accepts("capital", "borrow", "nlc")
    assert not registry.accepts("dongcheng", "borrow", "nlc")
    ok = doors.commit_txn(ledger, txn("loan", at_capital, nlc_card, library="capital"), registry, NOW)
    refused_txn = txn("loan", at_dongcheng, nlc_card, library="dongcheng")
    refused = doors.commit_txn(ledger, refused_txn, registry, NOW)
    assert ok.result == "committed"
    assert (refused.result, refused.reason) == ("rejected", "scheme_not_accepted")
    assert ledger.active_loan_for_item(at_dongcheng) is None
    assert doors.commit_txn(ledger, refused_txn, registry, NOW) == refused  # a repeat: same answer
    assert doors.txn_rows(ledger, refused_txn.txn_id) == 1
    assert ledger.ledger_counts([refused_txn.txn_id]) == {refused_txn.txn_id: 0}


def test_lending_suspended_at_the_national_library_refuses_online_loans(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("nlc", 21)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "nlc", 21)
    ack = doors.commit_txn(ledger, txn("loan", book, ref, library="nlc"), registry, NOW)
    assert (ack.result, ack.reason) == ("rejected", "service_suspended")


def test_a_national_library_book_at_the_capital_library_is_refused_online_and_excepted_offline(
    ledger: Ledger, registry: Registry
) -> None:
    """Online the loan is refused; a kiosk that lent it offline anyway keeps the loan
    (the reader has the book) and staff see why the hub would not have lent it."""
    ref = card("nlc", 22)
    add_reader(ledger, ref)
    online, offline = add_item(ledger, registry, "nlc", 22), add_item(ledger, registry, "nlc", 23)
    ack = doors.commit_txn(ledger, txn("loan", online, ref, library="capital"), registry, NOW)
    assert (ack.result, ack.reason) == ("rejected", "home_lending_suspended")
    assert ledger.active_loan_for_item(online) is None
    lent = txn("loan", offline, ref, library="capital", mode="offline")
    ack = doors.commit_txn(ledger, lent, registry, NOW)
    assert (ack.result, ack.exception) == ("committed", "home_lending_suspended")
    assert ledger.active_loan_for_item(offline) is not None


def test_a_returned_book_of_another_member_is_routed_home(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 30)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "dongcheng", 30)
    doors.commit_txn(ledger, txn("loan", book, ref, library="dongcheng"), registry, NOW)
    ack = doors.commit_txn(ledger,
        txn("return", book, None, library="capital"), registry, NOW + timedelta(days=3)
    )
    assert ack.result == "committed" and ack.exception is None
    assert ledger.active_loan_for_item(book) is None
    assert ledger.item(book).state == "in_transit"
    assert doors.transfers(ledger, book) == [("capital", "dongcheng")]


def test_a_return_the_diverter_shelved_against_the_hubs_rule_is_shelved_in_the_ledger_and_shown_to_staff(
    ledger: Ledger, registry: Registry
) -> None:
    """Issue 17's Done-when: the chute's diverter put a Dongcheng book on the Capital
    Library's shelf (the kiosk's route), the hub's rule would send it home: the ledger
    says where the book is, and staff see the correction with both routes."""
    ref = card("bj-joint", 32)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "dongcheng", 32)
    doors.commit_txn(ledger, txn("loan", book, ref, library="dongcheng"), registry, NOW)
    back = txn("return", book, None, library="capital", route="shelve")
    ack = doors.commit_txn(ledger, back, registry, NOW + timedelta(days=3))
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    assert ledger.active_loan_for_item(book) is None
    assert ledger.item(book).state == "on_shelf"  # where the diverter put it, not in transit
    assert doors.transfers(ledger, book) == []
    [shown] = ledger.staff_exceptions()
    assert (shown.reason, shown.txn_id, shown.item) == ("route_corrected", back.txn_id, book)
    assert "sent it to the shelf at capital" in shown.summary
    assert "would have sent it in transit to dongcheng" in shown.summary
    # A repeat of the txn changes nothing and records no second correction.
    again = doors.commit_txn(ledger, back, registry, NOW + timedelta(days=3))
    assert again is not None and again.result == "duplicate"
    assert len(ledger.staff_exceptions()) == 1


def test_a_return_the_diverter_sent_on_is_in_transit_where_the_rule_would_have_shelved_it(
    ledger: Ledger, registry: Registry
) -> None:
    book = add_item(ledger, registry, "capital", 33, state="on_loan")
    ack = doors.commit_txn(ledger, txn("return", book, None, library="capital", route="transfer"), registry, NOW)
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    assert ledger.item(book).state == "in_transit"
    assert doors.transfers(ledger, book) == [("capital", "capital")]  # its home, as the ledger knows it
    assert ledger.exceptions()[0].reason == "route_corrected"


def test_a_book_the_kiosk_put_in_the_hold_bin_offline_is_on_the_hold_shelf_for_staff(
    ledger: Ledger, registry: Registry
) -> None:
    """The kiosk's offline rule sends a book whose home it cannot tell to the hold bin;
    the hub's rule would send it home. The ledger keeps it on the hold shelf, for no
    reader: nobody borrows it before staff look at it."""
    ref, other = card("bj-joint", 34), card("bj-joint", 35)
    add_reader(ledger, ref)
    add_reader(ledger, other)
    book = add_item(ledger, registry, "dongcheng", 34)
    doors.commit_txn(ledger, txn("loan", book, ref, library="dongcheng"), registry, NOW)
    back = txn("return", book, None, library="capital", mode="offline", at=NOW + timedelta(days=2), route="hold")
    ack = doors.commit_txn(ledger, back, registry, NOW + timedelta(days=2, minutes=5))
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    item = ledger.item(book)
    assert (item.state, item.hold_for) == ("on_hold", None)
    assert doors.transfers(ledger, book) == []
    assert "to the hold shelf at capital" in ledger.staff_exceptions()[0].summary
    lent = doors.commit_txn(ledger, txn("loan", book, other, library="capital"), registry, NOW + timedelta(days=3))
    assert (lent.result, lent.reason) == ("rejected", "item_on_hold")


def test_a_return_routed_as_the_rule_says_keeps_the_rules_library_and_no_exception(
    ledger: Ledger, registry: Registry
) -> None:
    book = add_item(ledger, registry, "dongcheng", 36, state="on_loan")
    ack = doors.commit_txn(ledger, txn("return", book, None, library="capital", route="transfer"), registry, NOW)
    assert (ack.result, ack.exception) == ("committed", None)
    assert ledger.item(book).state == "in_transit"
    assert doors.transfers(ledger, book) == [("capital", "dongcheng")]
    assert ledger.exceptions() == []


def test_a_book_returned_at_home_is_shelved(ledger: Ledger, registry: Registry) -> None:
    book = add_item(ledger, registry, "capital", 31, state="on_loan")
    doors.commit_txn(ledger, txn("return", book, None, library="capital"), registry, NOW)
    assert ledger.item(book).state == "on_shelf"
    assert doors.transfers(ledger, book) == []


def test_a_returned_book_with_a_waiting_hold_goes_to_the_hold_shelf(
    ledger: Ledger, registry: Registry
) -> None:
    lender, waiter = card("bj-joint", 40), card("bj-joint", 41)
    add_reader(ledger, lender)
    waiter_hash = add_reader(ledger, waiter)
    book = add_item(ledger, registry, "dongcheng", 40)
    doors.commit_txn(ledger, txn("loan", book, lender, library="dongcheng"), registry, NOW)
    doors.place_hold(ledger, book, waiter_hash, "capital", NOW)
    doors.commit_txn(ledger,
        txn("return", book, lender, library="capital"), registry, NOW + timedelta(days=1)
    )
    item = ledger.item(book)
    assert (item.state, item.hold_for) == ("on_hold", waiter_hash)
    assert doors.transfers(ledger, book) == []
    # Nobody else may take it; the reader it waits for may, and the hold is then done.
    other = doors.commit_txn(ledger, txn("loan", book, lender), registry, NOW + timedelta(days=2))
    assert (other.result, other.reason) == ("rejected", "item_on_hold")
    mine = doors.commit_txn(ledger, txn("loan", book, waiter), registry, NOW + timedelta(days=2))
    assert mine.result == "committed"
    assert ledger.item(book).hold_for is None and ledger.waiting_hold(book) is None


def test_a_returned_unknown_book_is_taken_and_flagged(ledger: Ledger, registry: Registry) -> None:
    ack = doors.commit_txn(ledger, txn("return", "30002999999990", None), registry, NOW)
    assert (ack.result, ack.exception) == ("committed", "item_unknown")


def test_renewal_extends_the_loan_and_counts(ledger: Ledger, registry: Registry) -> None:
    ref = card("bj-joint", 50)
    add_reader(ledger, ref)
    book = add_item(ledger, registry, "capital", 50)
    loan = doors.commit_txn(ledger, txn("loan", book, ref), registry, NOW)
    later = NOW + timedelta(days=30)
    renewed = doors.commit_txn(ledger, txn("renew", book, ref, at=later), registry, later)
    assert renewed.result == "committed" and renewed.due > loan.due
    assert ledger.active_loan_for_item(book).renewals == 1
    stranger = card("bj-joint", 51)
    add_reader(ledger, stranger)
    refused = doors.commit_txn(ledger, txn("renew", book, stranger, at=later), registry, later)
    assert (refused.result, refused.reason) == ("rejected", "not_on_loan")


def test_two_ledgers_committing_the_same_txn_at_once_leave_one_row(
    db_url: str, registry: Registry
) -> None:
    ledgers = [Ledger.open(db_url) for _ in range(4)]
    try:
        books = [add_item(ledgers[0], registry, "capital", 600 + i) for i in range(10)]
        for i, book in enumerate(books):
            ref = card("bj-joint", 600 + i)
            add_reader(ledgers[0], ref)
            t = txn("loan", book, ref)
            acks: list[messages.Ack] = []
            barrier = threading.Barrier(len(ledgers))

            def commit(
                led: Ledger, t: messages.Txn, barrier: threading.Barrier, acks: list[messages.Ack]
            ) -> None:
                barrier.wait()
                acks.append(doors.commit_txn(led, t, registry, NOW))

            threads = [
                threading.Thread(target=commit, args=(led, t, barrier, acks)) for led in ledgers
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join(10)
            assert sorted(a.result for a in acks) == ["committed"] + ["duplicate"] * (
                len(ledgers) - 1
            )
            assert len({a.model_copy(update={"result": "x"}) for a in acks}) == 1
            assert doors.txn_rows(ledgers[0], t.txn_id) == 1
        assert ledgers[0].count("loans") == len(books)
    finally:
        for led in ledgers:
            led.close()


def test_five_wrong_pins_lock_the_card_with_a_growing_backoff(
    ledger: Ledger, registry: Registry
) -> None:
    ref = card("bj-joint", 70)
    add_reader(ledger, ref, pin="246810")
    scheme = registry.scheme("bj-joint")
    lefts = [
        ledger.check_pin(ref.scheme, ref.number, "000000", NOW, scheme).attempts_left
        for _ in range(4)
    ]
    assert lefts == [4, 3, 2, 1]
    locked = ledger.check_pin(ref.scheme, ref.number, "000000", NOW, scheme)
    assert not locked.ok and locked.attempts_left == 0
    first_lock = locked.locked_until - NOW
    assert first_lock == timedelta(minutes=scheme.lockout_minutes(1))
    # Even the right PIN is refused while locked.
    assert not ledger.check_pin(
        ref.scheme, ref.number, "246810", NOW + timedelta(minutes=1), scheme
    ).ok
    after = locked.locked_until + timedelta(seconds=1)
    for _ in range(4):
        ledger.check_pin(ref.scheme, ref.number, "000000", after, scheme)
    second = ledger.check_pin(ref.scheme, ref.number, "000000", after, scheme)
    assert second.locked_until - after == timedelta(minutes=scheme.lockout_minutes(2)) > first_lock
    later = second.locked_until + timedelta(seconds=1)
    assert ledger.check_pin(ref.scheme, ref.number, "246810", later, scheme).ok
    assert ledger.check_pin(ref.scheme, ref.number, "000000", later, scheme).attempts_left == 4


def test_pins_are_stored_salted_never_in_clear(ledger: Ledger) -> None:
    a, b = card("bj-joint", 71), card("bj-joint", 72)
    add_reader(ledger, a, pin="123456")
    add_reader(ledger, b, pin="123456")
    stored = [r[0] for r in ledger.db.query("SELECT pin_hash FROM readers ORDER BY card_hash")]
    assert len(set(stored)) == 2 and all("123456" not in s for s in stored)


def test_the_blocklist_holds_hashes_of_blocked_and_expired_cards(ledger: Ledger) -> None:
    good, bad = card("bj-joint", 80), card("bj-joint", 81)
    add_reader(ledger, good)
    bad_hash = add_reader(ledger, bad, state="blocked", block_reason="lost")
    salt = privacy.new_blocklist_salt()
    assert ledger.blocklist_hashes(date(2025, 1, 1), salt) == [
        privacy.blocklist_hash(salt, bad.scheme, bad.number)
    ]
    assert bad_hash not in ledger.blocklist_hashes(date(2025, 1, 1), salt)  # keyed, not the ledger's key
    assert len(ledger.blocklist_hashes(date(2031, 1, 1), salt)) == 2  # both past 2030-01-01


def test_fleet_rows_follow_state_and_telemetry(ledger: Ledger) -> None:
    ledger.record_state(
        "k1", messages.KioskState(state="online", firmware="1.2", library_id="capital"), NOW
    )
    ledger.record_telemetry(
        "k1",
        messages.Telemetry(
            at=NOW, journal_pending=7, devices={"card_reader": "ok", "chute": "beam-stuck"}
        ),
        NOW,
    )
    [row] = ledger.fleet()
    assert (row.kiosk_id, row.state, row.library_id, row.firmware) == (
        "k1",
        "online",
        "capital",
        "1.2",
    )
    assert row.journal_pending == 7 and row.faults == ["chute:beam-stuck"]
    ledger.record_state("k1", messages.KioskState(state="offline"), NOW)
    assert ledger.fleet()[0].state == "offline" and ledger.fleet()[0].library_id == "capital"


@pytest.mark.parametrize(
    "url", ["hub.sqlite", "sqlite://relative", "mysql://x/y", "sqlite:///", ""]
)
def test_a_bad_db_url_says_what_a_good_one_looks_like(url: str) -> None:
    with pytest.raises(LedgerUrlError, match="sqlite"):
        Ledger.open(url)


def test_an_unreachable_postgresql_is_a_clear_error() -> None:
    with pytest.raises(LedgerUrlError, match="cannot connect to PostgreSQL"):
        Ledger.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_a_book_with_a_hold_here_the_diverter_sent_on_goes_to_its_owner_and_the_hold_waits(
    ledger: Ledger, registry: Registry
) -> None:
    """The hub would keep it here for the reader waiting (hold shelf); the kiosk's
    offline rule sent it on: it travels to the library its barcode names, the hold stays
    waiting and staff are told the route was corrected."""
    lender, waiter = card("bj-joint", 42), card("bj-joint", 43)
    add_reader(ledger, lender)
    waiter_hash = add_reader(ledger, waiter)
    book = add_item(ledger, registry, "dongcheng", 42)
    doors.commit_txn(ledger, txn("loan", book, lender, library="dongcheng"), registry, NOW)
    doors.place_hold(ledger, book, waiter_hash, "capital", NOW)
    back = txn("return", book, None, library="capital", mode="offline", route="transfer",
               at=NOW + timedelta(days=1))
    ack = doors.commit_txn(ledger, back, registry, NOW + timedelta(days=1))
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    assert doors.transfers(ledger, book) == [("capital", "dongcheng")]
    item = ledger.item(book)
    assert (item.state, item.hold_for) == ("in_transit", None)
    assert ledger.waiting_hold(book) == (waiter_hash, "capital")
    summary = ledger.exceptions()[0].summary
    assert "in transit to dongcheng" in summary and "hold shelf at capital" in summary


def test_a_book_with_a_hold_here_the_diverter_shelved_is_on_the_shelf_here(
    ledger: Ledger, registry: Registry
) -> None:
    lender, waiter = card("bj-joint", 44), card("bj-joint", 45)
    add_reader(ledger, lender)
    waiter_hash = add_reader(ledger, waiter)
    book = add_item(ledger, registry, "capital", 44)
    doors.commit_txn(ledger, txn("loan", book, lender), registry, NOW)
    doors.place_hold(ledger, book, waiter_hash, "capital", NOW)
    back = txn("return", book, None, mode="offline", route="shelve", at=NOW + timedelta(days=1))
    ack = doors.commit_txn(ledger, back, registry, NOW + timedelta(days=1))
    assert (ack.result, ack.exception) == ("committed", "route_corrected")
    assert (ledger.item(book).state, doors.transfers(ledger, book)) == ("on_shelf", [])
    assert "to the shelf at capital" in ledger.exceptions()[0].summary
    assert "card scheme -" in ledger.exceptions()[0].summary


def test_a_return_to_the_hold_shelf_makes_the_readers_hold_ready(ledger: Ledger, registry: Registry) -> None:
    lender, waiter = card("bj-joint", 46), card("bj-joint", 47)
    add_reader(ledger, lender)
    waiter_hash = add_reader(ledger, waiter)
    book = add_item(ledger, registry, "capital", 46)
    doors.commit_txn(ledger, txn("loan", book, lender), registry, NOW)
    doors.place_hold(ledger, book, waiter_hash, "capital", NOW)
    doors.commit_txn(ledger, txn("return", book, lender), registry, NOW + timedelta(days=1))
    state = ledger.db.scalar("SELECT state FROM holds WHERE item = ?", (book,))
    assert state == "ready"
