"""Issue 12's "done when", end to end: real kiosks (`python -m kiosk_tools --sim --script`)
through the lab's TLS broker to a real hub worker whose member Dongcheng lives in its
own library system, the ILS simulator (ils_sim, on pysip2's server and codec) reached
over SIP2 in GB18030. The simulator's journal says what the ILS really handled."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from hub.lab.lab import Lab, demo_sip2_tables
from ils_sim.library import load_library
from tests.e2e.conftest import Alliance, HubProcess
from tests.ils_peer import DATA, Ils

pytestmark = pytest.mark.slow  # seconds each: run first under xdist (tests/conftest.py)

JOINT_CARD, JOINT_PIN = "0101000012373", "196080"  # 冯兰, a Dongcheng reader, in the ILS
NLC_CARD, NLC_PIN = "20001000000020", "2664"  # a National Library reader, in the hub
JOINT_BOOK, NLC_BOOK = "30101000000018", "30101000000026"  # Dongcheng books, in the ILS


@pytest.fixture
def ils(tmp_path: Path) -> Iterator[Ils]:
    system = Ils(tmp_path, "gb18030")
    system.start()
    yield system
    system.stop()


def start_world(tmp_path: Path, lab: Lab, ils: Ils, **sip2: int) -> Alliance:
    """A broker and a hub worker whose `[sip2]` tables send Dongcheng to the ILS, over
    TLS verified against the ILS's CA; `sip2`: more `[sip2]` keys."""
    password = tmp_path / "east.pw"
    password.write_text("east-sip2-demo\n")
    password.chmod(0o600)
    assert ils.ca is not None
    tables = demo_sip2_tables(ils.port, password, ils.ca, **sip2)
    broker = lab.broker().start()
    hub = HubProcess(
        broker.url,
        tmp_path / "hub.sqlite",
        tmp_path / "hub.log",
        worker="sip2",
        # Its readers take a book across town in seconds: without return_min_interval_s=0
        # the hub would hold such returns for staff (hub/ledger/txn_plausibility.py).
        config=lab.hub_config("sip2", tables=tables, seed_per_member=50, return_min_interval_s=0),
    )
    return Alliance(tmp_path, lab, broker, hub.start())


@pytest.fixture
def world(tmp_path: Path, lab: Lab, ils: Ils) -> Iterator[Alliance]:
    world = start_world(tmp_path, lab, ils)
    yield world
    world.close()


def ils_title_word(barcode: str) -> str:
    """A word of the ILS's own title for the book (what the reader must be shown)."""
    title = load_library(DATA).items[barcode].title
    return re.split(r"[\s·/]+", title)[0]


def ils_due() -> str:
    """The ILS lends for its own loan period (not the card scheme's), from today."""
    return (date.today() + timedelta(days=load_library(DATA).loan_days)).isoformat()


def play(world: Alliance, tmp_path: Path, name: str, text: str, library: str) -> None:
    script = tmp_path / f"{name}.txt"
    script.write_text(text, encoding="utf-8")
    code, output = world.run_script(script, "--library", library)
    assert code == 0, output


def borrow_script(card: str, pin: str, book: str) -> str:
    return f"""\
tap {card}
expect screen pin
pin {pin}
expect screen borrow
scan {book}
expect loan {book}
expect title {book} {ils_title_word(book)}
expect due {book} {ils_due()}
press finish
expect screen summary
remove
expect screen attract
expect committed {book}
"""


RETURN_SCRIPT = f"""\
press return
expect screen returns
drop {JOINT_BOOK}
expect return {JOINT_BOOK}
expect route {JOINT_BOOK} transfer dongcheng
drop {NLC_BOOK}
expect return {NLC_BOOK}
expect route {NLC_BOOK} transfer dongcheng
press finish
expect screen attract
expect committed {JOINT_BOOK}
expect committed {NLC_BOOK}
"""


def test_a_members_books_are_lent_and_returned_through_its_own_system(
    world: Alliance, ils: Ils, tmp_path: Path
) -> None:
    # At the Capital Library: a Dongcheng reader, and a National Library reader whose
    # card Dongcheng's system does not know (lent to the guest patron GUEST-NLC).
    play(world, tmp_path, "joint", borrow_script(JOINT_CARD, JOINT_PIN, JOINT_BOOK), "capital")
    play(world, tmp_path, "nlc", borrow_script(NLC_CARD, NLC_PIN, NLC_BOOK), "capital")
    # Both books come back at Xicheng: the ILS checks them in there and sends them home.
    play(world, tmp_path, "return", RETURN_SCRIPT, "xicheng")

    journal = ils.journal
    assert [r.patron for r in journal.requests("11", item=JOINT_BOOK)] == [JOINT_CARD]
    assert [r.patron for r in journal.requests("11", item=NLC_BOOK)] == ["GUEST-NLC"]
    assert journal.count("63", patron=JOINT_CARD) >= 1  # the PIN was checked by the ILS
    assert journal.count("63", patron=NLC_CARD) == 0  # never sent to a system not its own
    for book in (JOINT_BOOK, NLC_BOOK):
        checkins = journal.requests("09", item=book)
        assert [(r.location, r.ok) for r in checkins] == [("xicheng", "1")]


def test_returns_while_the_ils_is_down_reach_it_once_when_it_is_back(
    world: Alliance, ils: Ils, tmp_path: Path, poll
) -> None:
    play(world, tmp_path, "joint", borrow_script(JOINT_CARD, JOINT_PIN, JOINT_BOOK), "capital")
    play(world, tmp_path, "nlc", borrow_script(NLC_CARD, NLC_PIN, NLC_BOOK), "capital")
    ils.stop()
    play(world, tmp_path, "return", RETURN_SCRIPT, "xicheng")  # returns still succeed
    assert ils.journal.count("09") == 0
    ils.start()
    poll(lambda: queued_checkins(world) == 0, 60, "the hub's queue for the ILS to drain")
    journal = ils.journal
    for book in (JOINT_BOOK, NLC_BOOK):
        assert [(r.location, r.ok) for r in journal.requests("09", item=book)] == [("xicheng", "1")]


def queued_checkins(world: Alliance) -> int:
    """Checkins the hub still holds for the ILS (its `ils_queue`, read from the ledger)."""
    with sqlite3.connect(world.hub.db_path) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM ils_queue WHERE op = 'checkin' AND state = 'queued'"
        ).fetchone()
    return count


GRACE_S = 2


def test_a_checkout_no_loan_follows_is_checked_back_in_and_one_outside_a_pin_session_never_reaches_the_ils(
    tmp_path: Path, lab: Lab, ils: Ils, poll
) -> None:
    """Issue 16, finding 5, over the wire: an enrolled kiosk asks `checkout_auth` with
    its reader's token and never records the loan; after `[sip2] live_checkout_grace_s`
    the hub's drainer checks the book back in at the ILS and says why. Asked with no
    token or a forged one, the ILS never sees an 11."""
    from contract import messages
    from tests.hub.worker.test_service import Kiosk

    world = start_world(tmp_path, lab, ils, live_checkout_grace_s=GRACE_S)
    kiosk = Kiosk(lab, world.broker, "sip2-k1", "capital")
    try:
        card = messages.CardRef(scheme="bj-joint", number=JOINT_CARD)

        def checkout(token: str | None) -> messages.Response:
            return kiosk.request(messages.CheckoutAuth(
                op="checkout_auth", card=card, item=JOINT_BOOK, library_id="capital", session_token=token),
                timeout=15)  # fmt: skip

        for token in (None, "s1.1.2." + "A" * 43):
            refused = checkout(token)
            assert (refused.allowed, refused.reason_code) == (False, "session_required")
        assert ils.journal.count("11") == 0

        pin = kiosk.request(messages.PinCheck(op="pin_check", card=card, pin=JOINT_PIN), timeout=15)
        assert pin.pin_ok and pin.session_token
        assert checkout(pin.session_token).allowed
        assert ils.sim is not None and ils.sim.circulation.item(JOINT_BOOK).status == "charged"
        # no loan txn follows
        poll(lambda: ils.journal.count("09", item=JOINT_BOOK) == 1, 30, "the hub to check the book back in")
        back = ils.sim.circulation.item(JOINT_BOOK)
        assert back.status != "charged" and back.patron is None  # in transit home from Capital
        assert [(r.location, r.ok) for r in ils.journal.requests("09", item=JOINT_BOOK)] == [("capital", "1")]
        assert [r.ok for r in ils.journal.requests("09", item=JOINT_BOOK)] == ["1"]

        def live_checkout() -> tuple[str, str]:
            with sqlite3.connect(world.hub.db_path) as db:
                return db.execute(
                    "SELECT state, last_error FROM ils_queue WHERE op = 'checkout' AND item = ?", (JOINT_BOOK,)
                ).fetchone()

        # the ILS journals the 09 before it answers; the hub settles the row after the answer
        poll(lambda: live_checkout()[0] == "checked_in", 10, "the hub to settle the live checkout")
        why = live_checkout()[1]
        assert f"no loan txn from kiosk sip2-k1 within {GRACE_S} s" in why
    finally:
        kiosk.close()
        world.close()
