"""The simulated ILS seen from the wire, through a raw SIP2 client (conftest.py)."""

from __future__ import annotations

from datetime import date, timedelta

# The Dongcheng data set (ils_sim/data/dongcheng.toml).
READER, READER_PIN, READER_NAME = "0101000012373", "196080", "冯兰"
OTHER = "0101000060018"
HOLDER_OF_21 = "0101000060026"
BLOCKED = "0101000060042"
ITEM_1, TITLE_1 = "30101000000018", "长恨歌 · 大字版 / 王安忆 著"
ITEM_2 = "30101000000026"
ITEM_21 = "30101000000216"  # on loan to HOLDER_OF_21, hold for a capital reader (pickup capital)
ITEM_PINGFAN, TITLE_PINGFAN = "30101000000232", "平凡的世界（第一部） / 路遥 著"
ITEM_YI, TITLE_YI = "30101000000240", "十億個為什麼 · 繁體版 / 葉永烈 著"


def _due_in(days: int) -> str:
    return (date.today() + timedelta(days=days)).strftime("%Y%m%d") + "    235959"


def test_login_with_wrong_password_is_refused_and_the_connection_closed(start_sim, connect):
    sim = start_sim()
    client = connect(sim.port)
    raw = client.send_bytes(client.frame("9300CNalliance|COwrong|CPx|"))
    assert raw.startswith(b"940")
    assert client.send_bytes(client.frame("9900322.00")) == b""  # pysip2 closed it
    assert sim.journal.requests("93")[0].ok == "0"


def test_sc_status_advertises_exactly_the_messages_handled(session):
    _, client = session()
    answer = client.ask("9900322.00")
    assert answer.code == "98"
    # 23 11 09 01 99 97 93 63 35 37 17 19 25 15 29 65
    assert answer.get("BX") == "YYYNYYYYYNYNNNYN"
    assert answer.fixed[:3] == "YYY"  # online, checkin ok, checkout ok
    assert answer.get("AO") == "capital"
    assert answer.get("AM") == "东城区图书馆"


def test_patron_information_checks_the_pin_and_lists_charged_items(session):
    _, client = session()
    good = client.patron_info(READER, READER_PIN)
    assert (good.get("BL"), good.get("CQ"), good.get("AE")) == ("Y", "Y", READER_NAME)
    assert client.patron_info(READER, "000000").get("CQ") == "N"
    holder = client.patron_info(HOLDER_OF_21, "222222")
    assert holder.fields["AU"] == [ITEM_21]
    assert holder.fixed[43:47] == "0001"  # charged items count
    unknown = client.patron_info("0101000099999", "1")
    assert (unknown.get("BL"), unknown.get("CQ")) == ("N", "N")


def test_a_blocked_patron_shows_denied_privileges_and_cannot_borrow(session):
    _, client = session()
    info = client.patron_info(BLOCKED, "444444")
    assert info.fixed[:4] == "YYYY"
    assert "逾期未还" in info.get("AF")
    out = client.checkout(BLOCKED, ITEM_1)
    assert out.fixed[0] == "0" and out.get("AF").startswith("patron blocked")


def test_guest_patron_needs_no_pin(session):
    _, client = session()
    info = client.patron_info("GUEST-NLC", "")
    assert (info.get("BL"), info.get("CQ")) == ("Y", "Y")
    assert client.checkout("GUEST-NLC", ITEM_2).fixed[0] == "1"


def test_item_information_gives_title_status_due_date_and_home(session):
    _, client = session()
    shelf = client.item_info(ITEM_1)
    assert shelf.fixed[:2] == "03" and shelf.get("AJ") == TITLE_1
    assert shelf.get("AQ") == "dongcheng"
    out = client.item_info(ITEM_21)
    assert out.fixed[:2] == "04" and out.get("AH") == "20261220    235959"
    assert out.get("CF") == "1"
    assert client.item_info("39999999999999").fixed[:2] == "01"


def test_checkout_gives_title_and_due_date_and_a_retry_is_a_renewal_ok(session):
    sim, client = session()
    first = client.checkout(READER, ITEM_1)
    assert first.fixed[:2] == "1N"
    assert (first.get("AJ"), first.get("AH")) == (TITLE_1, _due_in(30))
    again = client.checkout(READER, ITEM_1)
    assert again.fixed[:2] == "1Y" and again.get("AH") == first.get("AH")
    assert sim.circulation.charged_items(READER) == [ITEM_1]


def test_checkout_refuses_an_item_out_to_someone_else_or_unknown(session):
    _, client = session()
    taken = client.checkout(OTHER, ITEM_21)
    assert taken.fixed[0] == "0" and taken.get("AF") == "item checked out to another patron"
    unknown = client.checkout(OTHER, "39999999999999")
    assert unknown.fixed[0] == "0" and unknown.get("AF") == "unknown item"


def test_checkin_elsewhere_sends_the_item_home_with_ct_and_cv_04(session):
    _, client = session()
    client.checkout(READER, ITEM_1)
    back = client.checkin(ITEM_1, at="xicheng")
    assert back.fixed[:4] == "1YNY"  # ok, resensitize, magnetic media, alert
    assert (back.get("CT"), back.get("CV"), back.get("AQ")) == ("dongcheng", "04", "dongcheng")
    assert back.get("AA") == READER
    assert b"|CTdongcheng|CV04|" in back.raw


def test_checkin_at_home_needs_no_routing(session):
    _, client = session()
    client.checkout(READER, ITEM_1)
    back = client.checkin(ITEM_1, at="dongcheng")
    assert back.fixed[:4] == "1YNN"
    assert back.get("CT") is None and back.get("CV") is None


def test_checkin_of_a_held_item_routes_it_to_the_pickup_library(session):
    _, client = session()
    back = client.checkin(ITEM_21, at="xicheng")
    assert (back.get("CT"), back.get("CV")) == ("capital", "02")
    assert client.item_info(ITEM_21).fixed[:2] == "10"  # in transit


def test_checkin_of_a_held_item_at_the_pickup_library_says_hold_here(session):
    _, client = session()
    back = client.checkin(ITEM_21, at="capital")
    assert (back.get("CT"), back.get("CV")) == ("capital", "01")
    assert client.item_info(ITEM_21).fixed[:2] == "08"  # on the hold shelf


def test_checkin_of_an_item_not_checked_out_is_a_conflict(session):
    _, client = session()
    back = client.checkin(ITEM_1, at="dongcheng")
    assert back.fixed[0] == "0" and back.get("AF") == "item not checked out"


def test_renew_extends_the_loan_up_to_the_limit(session):
    _, client = session()
    client.checkout(READER, ITEM_1)
    for _ in range(2):
        renewed = client.renew(READER, ITEM_1)
        assert renewed.fixed[:2] == "1Y" and renewed.get("AH") == _due_in(30)
    refused = client.renew(READER, ITEM_1)
    assert refused.fixed[0] == "0" and refused.get("AF") == "renewal limit reached"
    assert client.renew(OTHER, ITEM_1).fixed[0] == "0"


def test_renew_is_refused_when_someone_else_holds_the_item(session):
    _, client = session()
    refused = client.renew(HOLDER_OF_21, ITEM_21)
    assert refused.fixed[0] == "0" and "hold" in refused.get("AF")


def test_end_session(session):
    _, client = session()
    answer = client.ask(f"35{'20260101    120000'}AOcapital|AA{READER}|")
    assert answer.code == "36" and answer.fixed[0] == "Y"


def test_the_journal_counts_what_was_handled_by_command_and_item(session):
    sim, client = session()
    client.checkout(READER, ITEM_1)
    client.checkin(ITEM_1, at="xicheng")
    client.checkin(ITEM_1, at="xicheng")  # the second is a conflict, still handled
    assert sim.journal.count("09", item=ITEM_1) == 2
    assert [r.ok for r in sim.journal.requests("09", item=ITEM_1)] == ["1", "0"]
    assert sim.journal.count("11", patron=READER) == 1
    assert sim.journal.counts() == {"93": 1, "11": 1, "09": 2}
    checkin = sim.journal.requests("09")[0]
    assert (checkin.location, checkin.institution, checkin.patron) == ("xicheng", "capital", READER)
    assert sim.journal.requests("93")[0].location == "alliance-kiosks"


def test_an_identical_retransmit_is_replayed_not_handled_twice(session):
    sim, client = session()
    client.checkout(READER, ITEM_1)
    frame = client.frame(f"09N{'20260101    120000' * 2}APxicheng|AOcapital|AB{ITEM_1}|AC|")
    first = client.send_bytes(frame)
    assert client.send_bytes(frame) == first
    assert sim.journal.count("09", item=ITEM_1) == 1


def test_a_corrupted_checksum_gets_a_resend_request(session):
    sim, client = session()
    frame = bytearray(client.frame(f"17{'20260101    120000'}AOcapital|AB{ITEM_1}|AC|"))
    frame[-2] = ord("0") if frame[-2] != ord("0") else ord("1")
    assert client.send_bytes(bytes(frame)).startswith(b"96")
    assert sim.journal.count("17") == 0


def test_chinese_titles_survive_gb18030_on_the_wire(session):
    _, client = session("gb18030")
    answer = client.item_info(ITEM_PINGFAN)
    assert TITLE_PINGFAN.encode("gb18030") in answer.raw
    assert answer.get("AJ") == TITLE_PINGFAN
    assert client.patron_info(READER, READER_PIN).get("AE") == READER_NAME


def test_a_gb18030_title_with_a_0x7c_byte_inside_a_character_arrives_whole(session):
    _, client = session("gb18030")
    answer = client.item_info(ITEM_YI)
    assert b"\x83|" in answer.raw  # 億: a client splitting bytes on "|" would break it
    assert answer.get("AJ") == TITLE_YI


def test_chinese_titles_survive_utf8_on_the_wire(session):
    _, client = session("utf-8")
    out = client.checkout(READER, ITEM_PINGFAN)
    assert TITLE_PINGFAN.encode("utf-8") in out.raw and out.get("AJ") == TITLE_PINGFAN


def test_a_cp850_instance_still_answers_with_chinese_titles_replaced(session):
    _, client = session("cp850")
    answer = client.item_info(ITEM_PINGFAN)
    assert answer.fixed[:2] == "03" and set(answer.get("AJ")) <= set("?（）/ 0123456789")


def test_a_stopped_simulator_starts_again_on_the_same_port_with_its_loans(start_sim, connect):
    sim = start_sim()
    port = sim.port
    client = connect(port)
    client.login()
    client.checkout(READER, ITEM_1)
    sim.stop()
    assert client.send_bytes(client.frame(f"17{'20260101    120000'}AOcapital|AB{ITEM_1}|")) == b""
    assert sim.start() == port
    again = connect(port)
    again.login()
    assert again.checkin(ITEM_1, at="dongcheng").fixed[0] == "1"
    assert sim.journal.counts() == {"93": 2, "11": 1, "09": 1}
