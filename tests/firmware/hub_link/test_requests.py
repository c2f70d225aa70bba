"""Requests own the only request timeouts: each of the core's requests ends in exactly
one HubAnswered or HubTimedOut, on a clock the test moves, against a recording connection."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.messages import Blocklist, CardRef, ReaderLookup, Response
from firmware.core.events import HubAnswered, HubTimedOut
from firmware.hub_link.requests import Requests

KIOSK = "k-req"
LOOKUP = ReaderLookup(
    op="reader_lookup", card=CardRef(scheme="joint", number="0110000012345"), library_id="dongcheng"
)


def make_requests(conn, clock, posted: list[object], timeout_s: float = 3.0) -> Requests:
    return Requests(conn, KIOSK, posted.append, lambda: None, timeout_s=timeout_s, clock=clock)


def wire_id(conn, corr_id: str) -> str:
    """The correlation data the request for the core's `corr_id` went out with."""
    sent = [p.properties.CorrelationData.decode() for p in conn.published if p.properties]
    return next(w for w in sent if w.split(".", 1)[0] == corr_id)


def answer(conn, corr_id: str, response: Response) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = wire_id(conn, corr_id).encode()
    conn.deliver(topics.topic(KIOSK, "resp"), messages.encode(response), props)


def test_a_request_carries_response_topic_and_correlation_data(conn, clock) -> None:
    make_requests(conn, clock, []).request("r1", LOOKUP)
    [sent] = conn.published
    assert (sent.topic, sent.qos, sent.retain) == (topics.topic(KIOSK, "req"), 1, False)
    assert sent.properties.ResponseTopic == topics.topic(KIOSK, "resp")
    head, _, token = sent.properties.CorrelationData.decode().partition(".")
    assert head == "r1" and len(token) >= 16  # the random part an answer must name
    assert sent.payload == messages.encode(LOOKUP)


def test_an_answer_in_time_is_the_only_event_and_no_timeout_follows(conn, clock) -> None:
    posted: list[object] = []
    requests = make_requests(conn, clock, posted)
    requests.request("r1", LOOKUP)
    answer(conn, "r1", Response(state="valid"))
    assert requests.pump(clock.advance(60)) is None
    conn.drop()
    assert posted == [HubAnswered("r1", Response(state="valid"))]


def test_no_answer_within_timeout_s_ends_in_one_timeout_and_the_late_answer_is_dropped(
    conn, clock
) -> None:
    posted: list[object] = []
    requests = make_requests(conn, clock, posted, timeout_s=3.0)
    requests.request("r1", LOOKUP)
    assert requests.pump(clock.advance(2.9)) == clock() + 0.1
    assert posted == []
    assert requests.pump(clock.advance(0.1)) is None
    answer(conn, "r1", Response(state="valid"))
    requests.pump(clock.advance(10))
    conn.drop()
    assert posted == [HubTimedOut("r1")]


def test_a_dropped_connection_ends_every_waiting_request_at_once(conn, clock) -> None:
    posted: list[object] = []
    requests = make_requests(conn, clock, posted)
    requests.request("r1", LOOKUP)
    requests.request("r2", LOOKUP)
    conn.drop()
    requests.pump(clock.advance(10))
    assert sorted(posted, key=str) == [HubTimedOut("r1"), HubTimedOut("r2")]


def test_a_request_on_a_link_that_is_down_or_refuses_times_out_at_once(conn, clock) -> None:
    posted: list[object] = []
    requests = make_requests(conn, clock, posted)
    conn.usable = False
    requests.request("down", LOOKUP)
    conn.usable, conn.refuse = True, True
    requests.request("refused", LOOKUP)
    assert posted == [HubTimedOut("down"), HubTimedOut("refused")]
    assert requests.pump(clock()) is None


def test_an_answer_naming_only_the_cores_id_is_dropped(conn, clock) -> None:
    posted: list[object] = []
    requests = make_requests(conn, clock, posted)
    requests.request("r1", LOOKUP)
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = b"r1"  # what a forger guesses from the core's counter
    conn.deliver(topics.topic(KIOSK, "resp"), messages.encode(Response(state="valid")), props)
    requests.pump(clock.advance(60))
    assert posted == [HubTimedOut("r1")]


def test_the_links_own_requests_call_back_and_time_out_silently(conn, clock) -> None:
    posted: list[object] = []
    got: list[Response] = []
    requests = make_requests(conn, clock, posted)
    requests.ask("blocklist", Blocklist(op="blocklist"), got.append)
    corr_id = conn.published[-1].properties.CorrelationData.decode().split(".", 1)[0]
    assert corr_id.startswith("_blocklist-")
    answer(conn, corr_id, Response(blocked_hashes=[]))
    requests.ask("blocklist", Blocklist(op="blocklist"), got.append)
    requests.pump(clock.advance(60))
    assert got == [Response(blocked_hashes=[])]
    assert posted == []
