"""Issue 16, finding 8: a man in the middle between the hub and a member's system. Over
TLS (the default) he can neither read nor alter: another certificate is refused, a
certificate of the right CA is refused by a pinned fingerprint, and altered records
break the connection. On a plain link (only with `allow_plain`), an answer naming
another patron, item or sequence number is refused; an altered ok flag is not caught,
which is why plain TCP needs `allow_plain` and warns."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import messages
from hub.pki.pki import init_pki, server_identity
from tests.hub.ils.conftest import BOOK, DONGCHENG_CARD, DONGCHENG_PIN, NLC_CARD, NLC_PIN, Hub
from tests.hub.ils.mitm import Mitm, replace_field, resign
from tests.hub.ils.test_ils_path import sign_in
from tests.hub.ils.test_live_checkouts import GRACE_S, checkout, drainer_at, live_rows
from tests.ils_peer import Ils

PASSWORD = b"east-sip2-demo"
OTHER_PATRON = "0101000060018"  # a Dongcheng reader of the ILS's own


@pytest.fixture
def mitms() -> Iterator[list[Mitm]]:
    started: list[Mitm] = []
    yield started
    for mitm in started:
        mitm.close()


@pytest.fixture
def plain_ils(tmp_path: Path) -> Iterator[Ils]:
    """The Dongcheng system on plain TCP, which the hub reaches only with allow_plain."""
    sim = Ils(tmp_path, "utf-8", tls=False)
    sim.start()
    yield sim
    sim.stop()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def through(hub_maker, ils: Ils, mitm: Mitm, **system: object) -> Hub:
    """A hub whose system `east` is reached through the man in the middle."""
    return hub_maker(ils, system=dataclasses.replace(ils.system(), port=mitm.port, **system))


def nlc_checkout(hub: Hub) -> messages.Response:
    """A National Library reader borrowing a Dongcheng book (11 to GUEST-NLC): the PIN
    is the hub's, so only the checkout crosses the man in the middle."""
    token = sign_in(hub, NLC_CARD, NLC_PIN, "capital")
    return hub.ask(
        messages.CheckoutAuth(op="checkout_auth", card=NLC_CARD, item=BOOK, library_id="capital", session_token=token),
        "k1",
    )


def test_a_man_in_the_middle_with_another_certificate_is_refused_and_reads_nothing(ils, make_hub, mitms, tmp_path):
    evil = init_pki(tmp_path / "evil-pki")
    fake = server_identity(evil.root, "ils-east", tmp_path / "evil")  # 127.0.0.1, but another CA
    mitm = Mitm(ils.port, tls=server_context(fake.cert, fake.key))
    mitms.append(mitm)
    hub = through(make_hub, ils, mitm)
    answer = nlc_checkout(hub)
    assert (answer.allowed, answer.reason_code) == (False, "ils_unavailable")
    assert ils.journal.count("11") == 0 and ils.journal.count("93") == 0  # nothing got through
    link = hub.ledger.ils_links(("east",))[0]
    assert "certificate is not trusted" in (link.last_error or "")
    assert PASSWORD not in mitm.seen and NLC_CARD.number.encode() not in mitm.seen


def test_a_man_in_the_middle_with_a_certificate_of_the_right_ca_is_refused_by_the_pinned_fingerprint(
    ils, make_hub, mitms, tmp_path
):
    assert ils.identity is not None
    stolen_ca = server_identity(tmp_path / "ils-pki", "ils-east", tmp_path / "mitm")  # same CA, other key
    pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(ils.identity.cert.read_text())).hexdigest()
    mitm = Mitm(ils.port, tls=server_context(stolen_ca.cert, stolen_ca.key))
    mitms.append(mitm)
    hub = through(make_hub, ils, mitm, tls_fingerprint=pin)
    answer = nlc_checkout(hub)
    assert (answer.allowed, answer.reason_code) == (False, "ils_unavailable")
    assert "not the pinned tls_fingerprint" in (hub.ledger.ils_links(("east",))[0].last_error or "")
    assert ils.journal.count("93") == 0 and PASSWORD not in mitm.seen
    # and the real system, pinned the same way, is reached
    direct = make_hub(ils, system=dataclasses.replace(ils.system(), tls_fingerprint=pin))
    assert direct.pool.state().up is None and nlc_checkout(direct).allowed


def test_bits_flipped_in_the_encrypted_stream_break_the_link_instead_of_turning_a_refusal_into_a_loan(
    ils, make_hub, mitms
):
    assert ils.sim is not None and ils.sim.circulation.checkout(OTHER_PATRON, BOOK).ok  # so the system says 120
    mitm = Mitm(ils.port, flip=True)
    mitms.append(mitm)
    hub = through(make_hub, ils, mitm)
    answer = nlc_checkout(hub)
    assert answer.allowed is False and answer.reason_code == "ils_unavailable"
    assert mitm.rewritten > 0  # he did alter records, and it only broke the connection
    assert b"120" not in mitm.seen and PASSWORD not in mitm.seen  # and read nothing
    assert ils.sim.circulation.item(BOOK).patron == OTHER_PATRON


def test_on_a_plain_link_a_flipped_ok_flag_is_not_caught_which_is_why_plain_needs_allow_plain(
    plain_ils, make_hub, mitms
):
    assert plain_ils.sim is not None and plain_ils.sim.circulation.checkout(OTHER_PATRON, BOOK).ok
    mitm = Mitm(plain_ils.port, rewrite=lambda f: resign(b"121" + f[3:]) if f.startswith(b"120") else f)
    mitms.append(mitm)
    hub = through(make_hub, plain_ils, mitm)
    assert hub.pool.system.protection == "PLAIN (allow_plain)"  # what `hub status` shows
    answer = nlc_checkout(hub)
    assert mitm.rewritten == 1 and answer.allowed  # the known limit of plain TCP
    assert PASSWORD in mitm.seen  # and the SIP2 password crossed readable


@pytest.mark.parametrize(
    ("field", "altered"),
    [
        ("AA", lambda f: replace_field(f, b"AA", b"0101000060034")),  # another patron
        ("AB", lambda f: replace_field(f, b"AB", b"30101000000026")),  # another book
        ("AY", lambda f: resign(f.replace(b"AY" + f[f.rindex(b"AY") + 2 : f.rindex(b"AY") + 3],
                                          b"AY" + bytes([48 + (f[f.rindex(b"AY") + 2] - 47) % 10])))),
    ],
)
def test_on_a_plain_link_an_answer_naming_another_patron_item_or_sequence_is_refused(
    plain_ils, make_hub, mitms, caplog, field, altered
):
    mitm = Mitm(plain_ils.port, rewrite=lambda f: altered(f) if f.startswith(b"12") else f)
    mitms.append(mitm)
    hub = through(make_hub, plain_ils, mitm)
    token = sign_in(hub, DONGCHENG_CARD, DONGCHENG_PIN, "dongcheng")
    with caplog.at_level(logging.INFO):
        answer = checkout(hub, DONGCHENG_CARD, BOOK, token)
    assert mitm.rewritten == 1
    assert (answer.allowed, answer.reason_code) == (False, "ils_answer_mismatch")
    assert answer.message is not None and "does not match" in answer.message.en
    assert DONGCHENG_CARD.number not in caplog.text  # logged, without the patron number
    assert any(field in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    # The system did lend it; the hub does not know to whom, so it is checked back in.
    assert plain_ils.sim is not None and plain_ils.sim.circulation.item(BOOK).status == "charged"
    assert [s for _, s, _ in live_rows(hub)] == ["pending"]
    drainer, deadline = drainer_at(hub, GRACE_S + 1), time.monotonic() + 5
    while live_rows(hub)[0][1] == "pending" and time.monotonic() < deadline:
        time.sleep(drainer.step())
    assert [s for _, s, _ in live_rows(hub)] == ["checked_in"]
    assert plain_ils.sim.circulation.item(BOOK).status == "available"
