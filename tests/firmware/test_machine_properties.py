"""Properties over random event sequences (card taps, scans, stacks of RFID tags, chute
books, answers): the core never raises, a session never makes two loans of one item, a
book's security goes off only after its loan is recorded and on before its return is
routed, and a line is shown as done only once it was recorded;
every notice key and item status the core shows is in the message catalogue."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.barcodes import make_item_barcode
from contract.messages import LoanLine, Response
from contract.screens import ACTIONS, SCREENS, PinEntered, Press
from contract.tag_data.codec import encode_tag
from contract.tag_data.record import TagRecord
from drivers.diagnostics import DiagResult
from drivers.events import (
    BarcodeRead,
    BarcodeRejected,
    BookEntered,
    BookPassed,
    BookPulledBack,
    BooksLifted,
    BooksPresented,
    BooksTooClose,
    CardPresented,
    CardRemoved,
    ChuteCleared,
    ChuteJammed,
    DeviceFault,
    DeviceRecovered,
    MultipleCards,
    TagRead,
)
from firmware.core.catalogue_keys import ITEM_STATUSES, NOTICE_KEYS
from firmware.core.config import CoreConfig
from firmware.core.effects import RecordTxn, SecureItem, SendRequest, SetDiverter, UnsecureItem
from firmware.core.events import (
    BlocklistUpdated,
    CommandReceived,
    HubAnswered,
    HubTimedOut,
    JournalFailed,
    LinkChanged,
    SelfTestDone,
    Tick,
)
from firmware.core.machine import initial_state, render, step

BOOKS = [make_item_barcode("0002", n) for n in range(1, 4)] + [make_item_barcode("0102", 9)]
CARDS = ["0101000012345", "0101000099999", "88000000011", "20001000000019", "bogus"]
DUE = datetime(2030, 1, 1, tzinfo=UTC)
CONFIG = CoreConfig(library_id="capital", institution_members=MappingProxyType({"0002": "capital"}),
                    security=True, tag_security=True)
# Book tags: one per book, a second tag for the first book, a set of two parts, an
# unreadable tag and one whose data decodes to nothing.
TAGS = [
    *(TagRead(bytes([n, 1, 2, 3, 4, 5, 4, 0xE0]), encode_tag("iso28560-2", TagRecord(item_id=b)))
      for n, b in enumerate(BOOKS)),
    TagRead(bytes([9, 1, 2, 3, 4, 5, 4, 0xE0]), encode_tag("iso28560-2", TagRecord(item_id=BOOKS[0]))),
    *(TagRead(bytes([10 + p, 1, 2, 3, 4, 5, 4, 0xE0]),
              encode_tag("iso28560-2", TagRecord(item_id=BOOKS[2], set_part=p, set_size=2)))
      for p in (1, 2)),
    TagRead(bytes([20, 1, 2, 3, 4, 5, 4, 0xE0]), b""),
    TagRead(bytes([21, 1, 2, 3, 4, 5, 4, 0xE0]), b"\xff" * 8),
]

responses = st.one_of(
    st.builds(
        Response,
        state=st.sampled_from(["valid", "expired", "blocked", "unknown"]),
        pin_required=st.booleans(),
        items_left=st.integers(0, 5),
        loans=st.just([LoanLine(item=BOOKS[0], title="t", due=DUE)]),
    ),
    st.builds(Response, pin_ok=st.booleans(), attempts_left=st.integers(0, 4)),
    st.builds(Response, allowed=st.booleans(), due=st.just(DUE), reason_code=st.just("x")),
    st.builds(Response, route=st.sampled_from(["shelve", "transfer", "hold"])),
    st.builds(Response, ok=st.just(False), error=st.just("boom")),
)

plain_events = st.one_of(
    st.builds(CardPresented, uid=st.just(b"\x01\x02\x03\x04"),
              data=st.sampled_from(CARDS).map(str.encode)),
    st.builds(CardRemoved, uid=st.just(b"\x01\x02\x03\x04")),
    st.builds(MultipleCards),
    st.builds(PinEntered, digits=st.sampled_from(["1234", "12", "123456"])),
    st.builds(Press, action=st.sampled_from(ACTIONS)),
    st.builds(BarcodeRead, text=st.sampled_from([*BOOKS, "junk", "9787536692930"]),
              source=st.sampled_from(["desk", "desk", "chute"])),
    st.builds(BarcodeRejected, reason=st.just("empty"), length=st.just(0),
              source=st.sampled_from(["desk", "chute"])),
    st.builds(BooksPresented, tags=st.lists(st.sampled_from(TAGS), max_size=5, unique=True).map(tuple),
              source=st.sampled_from(["desk", "desk", "chute"])),
    st.builds(BooksLifted, source=st.sampled_from(["desk", "chute"])),
    st.builds(BookEntered, at=st.just(1.0)),
    st.builds(BookPassed, at=st.just(1.0), transit_ms=st.just(100.0)),
    st.builds(BookPulledBack, at=st.just(1.0)),
    st.builds(BooksTooClose, at=st.just(1.0)),
    st.builds(ChuteJammed, beam=st.just("exit"), blocked_s=st.just(5.0)),
    st.builds(ChuteCleared),
    st.builds(DeviceFault, device=st.sampled_from(["card_reader", "scanner", "chute"]),
              code=st.just("x-fault"), hint=st.just("")),
    st.builds(DeviceRecovered, device=st.sampled_from(["card_reader", "scanner", "chute"])),
    st.builds(LinkChanged, online=st.booleans()),
    st.builds(CommandReceived, cmd=st.sampled_from(["selftest", "maintenance_on", "maintenance_off"]),
              cmd_id=st.just("c1")),
    st.builds(SelfTestDone, results=st.just((DiagResult.passed("scanner"),))),
    st.builds(BlocklistUpdated, blocked_hashes=st.just(frozenset())),
    st.just(JournalFailed(code="journal-io", detail="")),
)

# Answers refer to requests by position among those sent so far (resolved while running).
answer_events = st.tuples(st.sampled_from(["answer", "timeout"]), st.integers(0, 30), responses)
tick_events = st.floats(0.1, 30.0).map(lambda dt: ("tick", dt))
events = st.lists(st.one_of(plain_events, plain_events, answer_events, tick_events), max_size=60)


def run(sequence: list) -> None:
    state = initial_state(CONFIG)
    now, sent, recorded = 1000.0, [], Counter()
    loans_per_session: Counter = Counter()
    for item in sequence:
        if isinstance(item, tuple) and item[0] == "tick":
            now += item[1]
            event: object = Tick(now)
        elif isinstance(item, tuple):
            if not sent:
                continue
            corr = sent[item[1] % len(sent)]
            event = HubAnswered(corr, item[2]) if item[0] == "answer" else HubTimedOut(corr)
        else:
            event = item
        state, effects = step(state, event, CONFIG)
        for effect in effects:
            if isinstance(effect, UnsecureItem):  # security off only for a journalled loan
                assert recorded[("loan", effect.item)] >= 1, f"{effect} before its loan's row"
            if isinstance(effect, SecureItem):  # a return's security on before its routing
                assert any(isinstance(e, SetDiverter) for e in effects[effects.index(effect):])
            if isinstance(effect, SendRequest):
                sent.append(effect.corr_id)
            if isinstance(effect, RecordTxn):
                recorded[(effect.kind, effect.item)] += 1
                if effect.kind == "loan":
                    loans_per_session[(state.session, effect.item)] += 1
                    assert loans_per_session[(state.session, effect.item)] == 1
        view = render(state, CONFIG)
        assert view.screen in SCREENS
        assert view.notice is None or view.notice in NOTICE_KEYS
        kinds = {"loaned": "loan", "offline_loaned": "loan", "renewed": "renew", "returned": "return"}
        shown = Counter((kinds[i.status], i.barcode) for i in view.items if i.status in kinds)
        for key, count in shown.items():
            assert recorded[key] >= count, f"{key} shown before it was recorded"
        for line in view.items:
            assert line.status in ITEM_STATUSES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_random_event_sequences_keep_the_core_safe(sequence: list) -> None:
    run(sequence)


def test_double_scans_with_every_answer_order_make_one_loan() -> None:
    book = BOOKS[0]
    seq = [
        CardPresented(b"\x01\x02\x03\x04", CARDS[0].encode()),
        ("answer", 0, Response(state="valid", pin_required=False)),
        BarcodeRead(book), BarcodeRead(book),
        ("timeout", 1, Response()),
        BarcodeRead(book),
        ("answer", 1, Response(allowed=True, due=DUE)),
        BarcodeRead(book),
    ]
    run(seq)


def test_notice_keys_all_have_glosses() -> None:
    assert all(key.startswith("notice.") and gloss for key, gloss in NOTICE_KEYS.items())


def test_every_notice_key_in_the_core_source_is_in_the_catalogue() -> None:
    import re
    from pathlib import Path

    import firmware.core as core

    used = set()
    for path in Path(core.__file__).parent.glob("*.py"):
        if path.name != "messages.py":
            used |= set(re.findall(r'"(notice\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert used, "no notice keys found"
    assert used <= set(NOTICE_KEYS), used - set(NOTICE_KEYS)
