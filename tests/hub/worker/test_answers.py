"""The hub's answers to kiosk requests, without a broker: a ledger, a registry, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from contract import card_schemes, messages, privacy
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules import rules
from hub.rules.registry import Registry
from hub.worker.answers import RequestAnswers
from hub.worker.refusals import HUB_REASONS, reason_message

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def ledger(tmp_path: Path, registry: Registry) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/answers.sqlite") as led:
        led.seed_demo(registry, per_member=3)
        yield led


def answers_at(ledger: Ledger, registry: Registry, now: datetime = NOW) -> RequestAnswers:
    return RequestAnswers(ledger, registry, lambda: now, local_tz=BEIJING, offline_max_items=2)


def demo(registry: Registry, scheme: str = "bj-joint") -> catalogue.DemoReader:
    return next(r for r in catalogue.generate_readers(registry) if r.scheme == scheme and r.state == "valid")


def card(reader: catalogue.DemoReader) -> messages.CardRef:
    return messages.CardRef(scheme=reader.scheme, number=reader.number)


def test_before_the_pin_a_lookup_says_only_whether_the_card_may_go_on(
    ledger: Ledger, registry: Registry
) -> None:
    reader = demo(registry)
    resp = answers_at(ledger, registry).answer(
        messages.ReaderLookup(op="reader_lookup", card=card(reader), library_id="capital"), "k1"
    )
    assert (resp.scheme, resp.state, resp.allowed, resp.pin_required) == ("bj-joint", "valid", True, True)
    assert (resp.masked_name, resp.home_library, resp.loans, resp.items_left, resp.session_token) == (
        None, None, None, None, None,
    )  # fmt: skip
    assert reader.number not in messages.encode(resp).decode()


def test_the_right_pin_brings_the_masked_name_home_library_loans_and_allowance(
    ledger: Ledger, registry: Registry
) -> None:
    reader = demo(registry)
    resp = answers_at(ledger, registry).answer(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin), "k1")
    assert (resp.pin_ok, resp.masked_name, resp.home_library) == (True, "王*明", "capital")
    assert resp.items_left == registry.scheme("bj-joint").max_items and resp.loans == []
    assert resp.session_token is not None
    assert reader.number not in messages.encode(resp).decode() and reader.name not in messages.encode(resp).decode()


def test_a_wrong_pin_brings_nothing_of_the_reader(ledger: Ledger, registry: Registry) -> None:
    reader = demo(registry)
    wrong = "0" * len(reader.pin) if reader.pin != "0" * len(reader.pin) else "1" * len(reader.pin)
    resp = answers_at(ledger, registry).answer(messages.PinCheck(op="pin_check", card=card(reader), pin=wrong), "k1")
    assert resp.pin_ok is False and (resp.masked_name, resp.loans, resp.session_token) == (None, None, None)


def test_a_card_the_ledger_does_not_hold_is_unknown_in_both_languages(
    ledger: Ledger, registry: Registry
) -> None:
    ref = messages.CardRef(scheme="bj-joint", number=card_schemes.make_card_number("bj-joint", 777777))
    resp = answers_at(ledger, registry).answer(messages.PinCheck(op="pin_check", card=ref, pin="1234"))
    assert (resp.state, resp.allowed, resp.reason_code) == ("unknown", False, "card_unknown")
    assert resp.message == messages.Bilingual(zh=rules.REASONS["card_unknown"][0], en=rules.REASONS["card_unknown"][1])


def signed_in(ask: RequestAnswers, reader: catalogue.DemoReader, kiosk_id: str = "k1") -> str:
    """The session token of the reader's right PIN at `kiosk_id`."""
    right = ask.answer(messages.PinCheck(op="pin_check", card=card(reader), pin=reader.pin), kiosk_id)
    assert right.pin_ok and right.session_token
    return right.session_token


def test_checkout_auth_gives_the_rules_due_date_and_refusals_carry_the_rules_words(
    ledger: Ledger, registry: Registry
) -> None:
    reader = demo(registry, "nlc")
    book = catalogue.item_barcode(registry, "dongcheng", 1)
    ask = answers_at(ledger, registry)
    token = signed_in(ask, reader)

    def checkout(library: str) -> messages.Response:
        return ask.answer(messages.CheckoutAuth(
            op="checkout_auth", card=card(reader), item=book, library_id=library, session_token=token), "k1")

    ok = checkout("capital")
    assert ok.allowed and ok.due == rules.due_after(NOW, registry.scheme("nlc").loan_days)
    no = checkout("dongcheng")
    assert (no.allowed, no.reason_code, no.due) == (False, "scheme_not_accepted", None)
    assert no.message == reason_message("scheme_not_accepted")


def test_a_refused_checkout_names_the_book_by_its_catalogue_title(ledger: Ledger, registry: Registry) -> None:
    """A reader with several books on the desk must be told which one was refused."""
    reader = demo(registry, "nlc")
    book = catalogue.item_barcode(registry, "dongcheng", 1)
    ask = answers_at(ledger, registry)
    no = ask.answer(messages.CheckoutAuth(
        op="checkout_auth", card=card(reader), item=book, library_id="dongcheng", session_token=signed_in(ask, reader)
    ), "k1")
    item = ledger.item(book)
    assert item is not None and item.title
    assert (no.allowed, no.title) == (False, item.title)


def test_checkout_and_renew_auth_outside_the_readers_session_are_refused_before_anything_is_looked_up(
    ledger: Ledger, registry: Registry
) -> None:
    reader, other = demo(registry, "nlc"), demo(registry, "bj-joint")
    book = catalogue.item_barcode(registry, "capital", 1)
    ask = answers_at(ledger, registry)
    token = signed_in(ask, reader, "k1")
    later = answers_at(ledger, registry, NOW + timedelta(hours=2))
    attempts = [
        (ask, reader, None, "k1"),  # no token
        (ask, reader, token, "k2"),  # another kiosk's
        (ask, other, token, "k1"),  # another card's
        (ask, reader, token[:-4] + "AAAA", "k1"),  # forged
        (later, reader, token, "k1"),  # expired
        (ask, reader, token, None),  # a caller without a kiosk: nothing to bind it to
    ]
    for answers, who, tok, kiosk in attempts:
        for request in (
            messages.CheckoutAuth(op="checkout_auth", card=card(who), item=book, library_id="capital", session_token=tok),
            messages.RenewAuth(op="renew_auth", card=card(who), item=book, library_id="capital", session_token=tok),
        ):
            resp = answers.answer(request, kiosk)
            assert (resp.allowed, resp.reason_code, resp.title, resp.due) == (False, "session_required", None, None)
            assert resp.message == reason_message("session_required")


def test_renewing_a_book_not_on_loan_to_the_reader_is_refused_in_the_hubs_own_words(
    ledger: Ledger, registry: Registry
) -> None:
    book = catalogue.item_barcode(registry, "capital", 2)
    ask, reader = answers_at(ledger, registry), demo(registry)
    token = signed_in(ask, reader)
    resp = ask.answer(
        messages.RenewAuth(op="renew_auth", card=card(reader), item=book, library_id="capital", session_token=token),
        "k1",
    )
    assert (resp.allowed, resp.reason_code) == (False, "not_on_loan")
    zh, en = HUB_REASONS["not_on_loan"]
    assert resp.message == messages.Bilingual(zh=zh, en=en) and resp.title


def test_an_unknown_book_returned_is_taken_and_shelved_here_for_staff(
    ledger: Ledger, registry: Registry
) -> None:
    resp = answers_at(ledger, registry).answer(
        messages.ReturnRoute(op="return_route", item="30002999999990", library_id="xicheng")
    )
    assert (resp.allowed, resp.route, resp.route_library, resp.reason_code) == (
        True, "shelve", "xicheng", "item_unknown",
    )  # fmt: skip
    member = registry.member("xicheng")
    assert resp.route_library_name == messages.Bilingual(zh=member.name_zh, en=member.name_en)


def test_the_blocklist_judges_expiry_on_the_alliances_calendar_not_utcs(
    ledger: Ledger, registry: Registry
) -> None:
    """17:00 UTC on 1 January is already 2 January in Beijing: a card that expired on
    1 January is refused offline from then on."""
    reader = rules.ReaderRecord("bj-joint", card_schemes.make_card_number("bj-joint", 4242), "李四",
                                "valid", None, date(2025, 1, 1), "capital")  # fmt: skip
    ledger.add_reader(reader)
    evening = datetime(2025, 1, 1, 17, 0, tzinfo=UTC)
    resp = answers_at(ledger, registry, evening).answer(messages.Blocklist(op="blocklist"))
    assert resp.blocklist_salt is not None
    assert privacy.blocklist_hash(resp.blocklist_salt, reader.scheme, reader.number) in (
        resp.blocked_hashes or []
    )
    assert resp.offline_max_items == 2
    morning = answers_at(ledger, registry, datetime(2025, 1, 1, 15, 0, tzinfo=UTC))
    early = morning.answer(messages.Blocklist(op="blocklist"))
    assert early.blocklist_salt is not None
    key = privacy.blocklist_hash(early.blocklist_salt, reader.scheme, reader.number)
    assert key not in (early.blocked_hashes or [])


def test_each_blocklist_answer_has_its_own_salt_and_no_ledger_key(
    ledger: Ledger, registry: Registry
) -> None:
    """Two answers name the same blocked card differently, and never by the ledger's
    unsalted `card_hash`, so no table computed in advance matches them."""
    reader = rules.ReaderRecord("bj-joint", card_schemes.make_card_number("bj-joint", 4243), "李四",
                                "blocked", "lost", date(2030, 1, 1), "capital")  # fmt: skip
    key = ledger.add_reader(reader)
    answers = answers_at(ledger, registry, datetime(2025, 1, 1, 10, 0, tzinfo=UTC))
    first, second = (answers.answer(messages.Blocklist(op="blocklist")) for _ in range(2))
    assert first.blocklist_salt and second.blocklist_salt
    assert first.blocklist_salt != second.blocklist_salt
    assert key not in (first.blocked_hashes or []) + (second.blocked_hashes or [])
    assert set(first.blocked_hashes or []).isdisjoint(second.blocked_hashes or [])


def test_ledger_query_counts_only_committed_txns(ledger: Ledger, registry: Registry) -> None:
    resp = answers_at(ledger, registry).answer(
        messages.LedgerQuery(op="ledger_query", txn_ids=["never-sent-0001"])
    )
    assert resp.rows == {"never-sent-0001": 0}


def test_a_reason_nobody_wrote_words_for_is_shown_as_its_code() -> None:
    assert reason_message("brand_new_reason") == messages.Bilingual(zh="brand_new_reason", en="brand_new_reason")
    assert reason_message(None) is None

