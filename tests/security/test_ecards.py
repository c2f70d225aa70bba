"""Phone e-card tokens (issue 19 item 4), attacked over the lab's secure broker with a
real hub worker: a token names the kiosk it may be shown at, and the hub believes only
the kiosk whose certificate the broker checked (the topic), never anything a kiosk
claims. So a token taken to another kiosk is refused there, a kiosk cannot ask on
another kiosk's topic, and neither attempt spends the token for the kiosk it was made for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract import messages, topics
from hub.lab.lab import Lab
from hub.ledger.ecard_tokens import EcardTokens, ecard_key
from tests.security.test_txn_checks import reader
from tests.security.wire_kiosk import Kiosks, WireHub


@pytest.fixture(scope="module")
def broker(lab: Lab) -> Iterator[object]:
    """This module's own secure broker (the session's one, which the `wire_hub` and
    `kiosks` fixtures otherwise share, can hold the persistent session of a hub worker an
    earlier test stopped, still in the hubs' shared subscription: a request the broker
    hands to it waits in its queue and is never answered)."""
    proc = lab.broker().start()
    yield proc
    proc.close()


def login(token: str) -> messages.EcardLogin:
    return messages.EcardLogin(op="ecard_login", token=token, library_id="capital")


def test_another_kiosks_token_is_refused_on_a_strangers_topic_and_stays_good_for_its_own(
    wire_hub: WireHub, kiosks: Kiosks
) -> None:
    meant, stranger = kiosks(prefix="k-ecard"), kiosks(prefix="k-other")
    card = reader(wire_hub.ledger, 21)
    tokens = EcardTokens(ecard_key(wire_hub.ledger.pin_peppers().current))
    token = tokens.issue(card["scheme"], card["number"], meant.kiosk_id, wire_hub.clock())
    answer = stranger.ask(login(token))
    assert (answer.allowed, answer.reason_code, answer.session_token) == (False, "ecard_foreign", None)
    # the stranger publishing on the meant kiosk's request topic: the broker drops it
    assert stranger._client is not None
    props_topic = topics.topic(meant.kiosk_id, "req")
    info = stranger._client.publish(props_topic, messages.encode(login(token)), qos=1)
    info.wait_for_publish(5)
    answer = meant.ask(login(token))  # the token was not spent by either attempt
    assert (answer.allowed, answer.pin_required, answer.reason_code) == (True, False, None)
    assert answer.session_token is not None and answer.masked_name == "王*明"
    assert meant.ask(login(token)).reason_code == "ecard_used"  # and now it is


def test_a_request_naming_the_kiosk_it_speaks_for_is_refused_unread(wire_hub: WireHub, kiosks: Kiosks) -> None:
    """A kiosk cannot name the kiosk it speaks for in the payload: the request has no
    such field, so one carrying it is refused as invalid before any token is judged,
    and the token stays good for the kiosk it was made for."""
    meant, stranger = kiosks(prefix="k-ecard"), kiosks(prefix="k-other")
    card = reader(wire_hub.ledger, 22)
    tokens = EcardTokens(ecard_key(wire_hub.ledger.pin_peppers().current))
    token = tokens.issue(card["scheme"], card["number"], meant.kiosk_id, wire_hub.clock())
    claimed = ClaimingKiosk(token=token, library_id="capital", kiosk_id=meant.kiosk_id)
    answer = stranger.ask(claimed)
    assert answer.ok is False and "kiosk_id: extra_forbidden" in (answer.error or "")
    assert meant.ask(login(token)).allowed is True


class ClaimingKiosk(messages._Msg):
    """An `ecard_login` with a `kiosk_id` field added, as a forging kiosk would send it."""

    op: str = "ecard_login"
    token: str
    library_id: str
    kiosk_id: str
