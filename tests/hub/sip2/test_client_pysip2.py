"""Our client against a real SIP2 server (pysip2, its own codec): every message the hub
uses, Chinese titles both ways, and what pysip2 does with requests it finds invalid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.sip2.client import Sip2Client, Sip2ProtocolError, Sip2Unavailable
from tests.hub.sip2.conftest import system_for

BEIJING = timezone(timedelta(hours=8))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_loan_round_trip_keeps_chinese_titles(start_ils, library, encoding: str) -> None:
    ils = start_ils(encoding)
    with Sip2Client(system_for(ils.port, encoding)) as c:
        c.connect()
        patron = c.patron_information("P1", pin="1234")
        assert (patron.valid_patron, patron.valid_pin, patron.name) == (True, True, "张三")
        assert patron.screen_message == "欢迎"
        item = c.item_information("B2")
        assert (item.title, item.circulation_name, item.permanent_location) == (
            "億萬人的書", "available", "东城区图书馆")
        out = c.checkout("P1", "B2", pin="1234")
        assert out.ok and out.title == "億萬人的書"
        assert out.due_date == datetime(2027, 1, 15, 23, 59, 59, tzinfo=BEIJING)
        assert out.due_text == "20270115    235959"
        assert c.patron_information("P1").charged_items == ("B2",)
        renewed = c.renew("P1", "B2")
        assert renewed.ok and renewed.renewal_ok and renewed.due_text == "2027-02-15"
        back = c.checkin("B2", at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                         current_location="xicheng")
        assert back.ok and not back.alert and back.title == "億萬人的書"
        assert c.end_session("P1") is True
    seen = [(mid, fields) for mid, fields in library.seen]
    assert [mid for mid, _ in seen] == ["93", "63", "17", "11", "63", "29", "09", "35"]
    assert seen[0][1] == {"user": "alliance", "location": "alliance-kiosks"}
    assert seen[6][1]["location"] == "xicheng"
    assert seen[6][1]["return_date"] == "20261201    100000"  # 02:00 UTC in Beijing


def test_sc_status_says_what_the_ils_supports(start_ils) -> None:
    ils = start_ils()
    with Sip2Client(system_for(ils.port)) as c:
        c.connect()
        status = c.sc_status()
    assert status.online and status.checkin_ok and status.checkout_ok and status.renewal_ok
    assert (status.institution, status.library_name, status.protocol_version) == (
        "capital", "首都图书馆", "2.00")
    assert {"checkout", "checkin", "renew", "item_information", "patron_information",
            "end_patron_session", "login"} <= set(status.supported)
    assert "fee_paid" not in status.supported
    assert status.timeout_s == 3 and status.retries == 3


def test_a_wrong_pin_and_an_unknown_patron(start_ils) -> None:
    ils = start_ils()
    with Sip2Client(system_for(ils.port)) as c:
        wrong = c.patron_information("P1", pin="0000")
        unknown = c.patron_status("NOBODY")
        no_pin = c.patron_status("P1")
    assert wrong.valid_patron and wrong.valid_pin is False
    assert not unknown.valid_patron and unknown.name is None
    assert no_pin.valid_pin is None


def test_a_declined_checkout_and_checkin_carry_the_ils_message(start_ils) -> None:
    ils = start_ils()
    with Sip2Client(system_for(ils.port)) as c:
        assert c.checkout("P1", "B1").ok
        again = c.checkout("P1", "B1")
        assert not again.ok and again.screen_message == "不能借出"
        assert c.checkin("B1", at=datetime.now(UTC), current_location="x").ok
        twice = c.checkin("B1", at=datetime.now(UTC), current_location="x")
        assert not twice.ok and twice.screen_message == "item not checked out"


def test_an_offline_loan_is_replayed_with_no_block_and_its_due_date(start_ils, library) -> None:
    ils = start_ils()
    due = datetime(2026, 12, 29, 23, 59, 59, tzinfo=BEIJING)
    with Sip2Client(system_for(ils.port)) as c:
        assert c.checkout("P1", "B3", at=datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING),
                          no_block=True, nb_due_date=due).ok
        c.checkin("B3", at=datetime.now(UTC), current_location="x")
        # without an explicit due date: the offline loan period's (28 days, end of day)
        assert c.checkout("P1", "B3", at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
                          no_block=True).ok
        assert c.checkout("P1", "B1", at=datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING)).ok
    checkouts = [fields for mid, fields in library.seen if mid == "11"]
    assert [(f["no_block"], f["nb_due_date"]) for f in checkouts] == [
        ("Y", "20261229    235959"),
        ("Y", "20261230    235959"),  # 23:30 UTC is Dec 2 in Beijing
        ("N", "20261201    090000"),  # the transaction date: ignored without no_block
    ]


def test_a_wrong_password_is_a_refused_login(start_ils) -> None:
    ils = start_ils()
    c = Sip2Client(system_for(ils.port, password="wrong"))
    with pytest.raises(Sip2Unavailable, match="login refused for user 'alliance'"):
        c.connect()
    assert not c.connected


def test_a_request_pysip2_finds_invalid_is_a_protocol_error_not_a_retry_loop(start_ils) -> None:
    # pysip2 (cp850) cannot write a Chinese title; it drops the connection without a reply.
    ils = start_ils("cp850")
    with Sip2Client(system_for(ils.port, "cp850")) as c:
        c.connect()
        with pytest.raises(Sip2ProtocolError, match=r"without answering 17 \(item information\)"):
            c.item_information("B1")
        assert not c.patron_status("NOBODY").valid_patron  # the next call reconnects


def test_no_server_is_unavailable(start_ils) -> None:
    ils = start_ils()
    port = ils.port
    ils.stop()
    with pytest.raises(Sip2Unavailable, match="cannot connect"):
        Sip2Client(system_for(port)).connect()


def test_a_restarted_ils_is_reached_again_on_the_next_call(start_ils) -> None:
    ils = start_ils()
    port = ils.port
    with Sip2Client(system_for(port)) as c:
        c.connect()
        ils.stop()
        start_ils(port=port)
        assert c.sc_status().online  # the old connection was closed: one reconnect


def test_pysip2_splits_bytes_before_decoding_so_a_gb18030_bar_byte_is_refused(start_ils) -> None:
    # 億 is 0x83 0x7C in GB18030; pysip2 cuts the request at the 0x7C and drops the
    # connection. Our side reads such answers fine (test_a_loan_round_trip...), and says
    # clearly which request the ILS refused.
    ils = start_ils("gb18030")
    with Sip2Client(system_for(ils.port, "gb18030")) as c, pytest.raises(
            Sip2ProtocolError, match=r"without answering 23 \(patron status\)"):
        c.patron_status("億")
