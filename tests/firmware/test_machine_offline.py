"""Offline: the banner, offline greeting by card alone, offline loans and their limit,
the blocklist, returns always accepted, back online."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.barcodes import make_item_barcode
from contract.messages import CardRef
from contract.privacy import blocklist_hash, new_blocklist_salt
from contract.screens import PinEntered, Press
from drivers.events import BarcodeRead, CardPresented
from firmware.core.config import CoreConfig
from firmware.core.effects import RecordTxn, SendRequest
from firmware.core.events import BlocklistUpdated, LinkChanged
from firmware.core.identify import card_hash
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"
CARD = CardRef(scheme="bj-joint", number=JOINT)
WALL = datetime(2030, 1, 1, 9, tzinfo=UTC)
BOOKS = [make_item_barcode("0002", n) for n in range(1, 6)]


def records_in(effects: tuple) -> list[RecordTxn]:
    return [e for e in effects if isinstance(e, RecordTxn)]


def tap(k: CoreHarness, number: str = JOINT) -> tuple:
    return k.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=number.encode()))


def offline_reader(**config: object) -> CoreHarness:
    k = CoreHarness(CoreConfig(**config))
    k.feed(LinkChanged(True))
    k.wait(0.25, wall=WALL)
    tap(k)
    k.time_out()
    return k


def test_link_down_shows_offline_banner_and_up_clears_it() -> None:
    """(The blocklist is fetched by the hub link on every connect: tests/firmware/test_hub_link.py.)"""
    k = CoreHarness()
    k.feed(LinkChanged(True))
    assert k.view.online is True
    k.feed(LinkChanged(False))
    assert k.view.online is False
    k.feed(LinkChanged(True))
    assert k.view.online is True


def test_hub_timeout_shows_offline_banner() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(True))
    tap(k)
    k.time_out()
    assert k.view.online is False


def test_lookup_timeout_greets_offline_reader_without_name_or_pin() -> None:
    k = offline_reader()
    view = k.view
    assert view.screen == "borrow"
    assert view.reader_name is None
    assert view.items_left == 3
    assert view.notice == "notice.offline_reader"
    assert view.extras == {"session_mode": "offline"}


def test_a_request_is_ended_by_the_links_timeout_never_by_ticks() -> None:
    """The hub link owns request timeouts: the core waits, however long, for its
    HubTimedOut (or the answer), then decides offline."""
    k = CoreHarness()
    k.wait(0.25)
    tap(k)
    k.wait(600)
    assert k.view.busy
    assert [p.purpose for p in k.state.pending] == ["lookup"]
    k.time_out()  # what the link posts request_timeout_s after the publish
    assert k.view.screen == "borrow"
    assert k.view.online is False


def test_offline_loans_are_recorded_offline_with_default_due_date() -> None:
    k = offline_reader()
    k.feed(BarcodeRead(BOOKS[0]))
    [record] = records_in(k.time_out())
    assert record == RecordTxn("loan", BOOKS[0], CARD, WALL + timedelta(days=28), None, "offline")
    [line] = k.view.items
    assert (line.status, line.due) == ("offline_loaned", "2030-01-29")  # contract.settings.OFFLINE_LOAN_DAYS
    assert k.view.items_left == 2


def test_offline_loans_stop_at_offline_max_items() -> None:
    k = offline_reader(offline_max_items=2)
    k.feed(LinkChanged(False))  # known down: decided at once, no waiting
    for book in BOOKS[:3]:
        k.feed(BarcodeRead(book))
    statuses = [(i.status, i.reason_code) for i in k.view.items]
    assert statuses == [("offline_loaned", None), ("offline_loaned", None), ("refused", "limit_reached_offline")]
    assert len(k.records("loan")) == 2
    assert not any(isinstance(e, SendRequest) and e.request.op == "checkout_auth" for e in k.effects)


def test_blocklist_limit_overrides_config_limit() -> None:
    k = CoreHarness()
    k.feed(BlocklistUpdated(frozenset(), offline_max_items=1), LinkChanged(False))
    tap(k)
    assert k.view.items_left == 1


def test_blocked_card_is_refused_offline() -> None:
    k = CoreHarness()
    k.feed(BlocklistUpdated(frozenset({card_hash("bj-joint", JOINT)})))
    tap(k)
    k.time_out()
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.offline_no_loans"


def test_hub_cannot_raise_the_kiosks_offline_cap() -> None:
    """The offline cap is min(kiosk's, hub's): a blocklist answer saying 99 leaves 2."""
    k = offline_reader(offline_max_items=2)
    k.feed(BlocklistUpdated(frozenset(), offline_max_items=99), LinkChanged(False))
    for book in BOOKS[:3]:
        k.feed(BarcodeRead(book))
    statuses = [i.status for i in k.view.items]
    assert statuses == ["offline_loaned", "offline_loaned", "refused"]


def test_card_on_a_salted_blocklist_is_refused_offline() -> None:
    salt = new_blocklist_salt()
    k = CoreHarness()
    k.feed(BlocklistUpdated(frozenset({blocklist_hash(salt, "bj-joint", JOINT)}), salt=salt))
    tap(k)
    k.time_out()
    assert k.view.notice == "notice.offline_no_loans"


def test_unsalted_hash_on_a_salted_blocklist_does_not_match() -> None:
    """With a salt, only the keyed hash counts; the plain card_hash is not looked up."""
    salt = new_blocklist_salt()
    k = CoreHarness()
    k.feed(BlocklistUpdated(frozenset({card_hash("bj-joint", JOINT)}), salt=salt))
    tap(k)
    k.time_out()
    assert k.view.notice != "notice.offline_no_loans"


def test_offline_loans_disabled_refuses_reader_but_returns_work() -> None:
    k = CoreHarness(CoreConfig(offline_loans_allowed=False))
    k.feed(LinkChanged(False))
    tap(k)
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.offline_no_loans"


def test_checkout_timeout_mid_session_lends_offline() -> None:
    k = CoreHarness()
    k.wait(0.25, wall=WALL)
    tap(k)
    k.answer(state="valid", pin_required=False, items_left=5)
    k.feed(BarcodeRead(BOOKS[0]))
    [record] = records_in(k.time_out())
    assert record.mode == "offline"
    assert k.view.items[0].status == "offline_loaned"


def test_checkout_timeout_respects_readers_own_limit() -> None:
    k = CoreHarness()
    tap(k)
    k.answer(state="valid", pin_required=False, items_left=0)
    k.feed(BarcodeRead(BOOKS[0]))
    k.time_out()
    assert k.view.items[0].reason_code == "limit_reached"


def test_offline_loan_without_wall_clock_leaves_due_to_the_hub() -> None:
    k = CoreHarness()
    k.feed(LinkChanged(False))
    tap(k)
    [record] = records_in(k.feed(BarcodeRead(BOOKS[0])))
    assert record.due is None and record.mode == "offline"


def test_pin_check_timeout_follows_offline_policy() -> None:
    k = CoreHarness()
    tap(k)
    k.answer(state="valid", pin_required=True)
    k.feed(PinEntered("123456"))
    k.time_out()
    assert k.view.screen == "borrow"
    assert k.state.reader is not None and k.state.reader.offline


def test_staff_card_is_never_admitted_offline() -> None:
    k = CoreHarness()
    tap(k, "88000000011")
    k.time_out()
    assert k.view.screen == "attract"
    assert k.view.notice == "notice.staff_needs_hub"


def test_link_down_resolves_requests_in_flight_at_once() -> None:
    k = CoreHarness()
    tap(k)
    k.feed(LinkChanged(False))
    assert k.view.screen == "borrow"
    assert not k.state.pending


def test_renew_while_offline_needs_the_hub() -> None:
    k = offline_reader()
    k.feed(Press("renew"))
    assert k.view.notice == "notice.renew_needs_hub"
