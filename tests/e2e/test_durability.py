"""Durability end to end (docs/architecture.md "Durability"): real Mosquitto, the real hub worker
process and the kiosk on simulated hardware, all on the lab's secure setup (TLS, the
alliance's roles, enrolled kiosks, signed acks). Whatever is killed, cut or restarted, every
journalled transaction ends up acked by the hub and held exactly once in its ledger.

(a) the kiosk is SIGKILLed after the journal write and before any publish;
(b) the kiosk is SIGKILLed after the publish and before the hub's ack (hub frozen or
    stopped), then kiosk and hub come back;
(c) the broker is stopped and started again while a backlog drains;
(d) the hub is stopped and started again while a backlog drains.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from contract import messages, topics
from contract.broker_url import parse_broker_url
from firmware.assembly import Kiosk
from firmware.config import enrolment_overrides, load_config
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hal_sim.tcp_proxy import CuttableProxy
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.catalogue import item_barcode
from hub.ledger.ledger import Ledger
from hub.rules.registry import load_registry
from kiosk_tools.script_runner import KioskChild
from kiosk_tools.simulated import build_simulated_kiosk
from tests.e2e.conftest import Alliance, ledger_counts, wiretap

BEIJING = timezone(timedelta(hours=8))
REGISTRY = load_registry()
NLC_READER = "20001000000012"  # demo NLC card, PIN 1234; may borrow at the Capital Library


# ---- helpers ----------------------------------------------------------------------------


def kiosk_child(
    world: Alliance, journal: Path, kiosk_id: str, log: Path, broker_url: str | None = None
) -> KioskChild:
    """The kiosk as `kiosk_tools.script_runner` runs it: a child process on simulated
    hardware with its enrolment (`--identity`), driven over its JSON-lines control
    channel, SIGKILLable. `broker_url`: another way to `world`'s broker (a proxy)."""
    argv = [
        sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--control-stdio",
        "--journal", str(journal), *world.kiosk_args(kiosk_id, "capital"),
        "--broker", broker_url or world.broker_url,
    ]  # fmt: skip
    child = KioskChild(argv, open(log, "a", encoding="utf-8"))  # noqa: SIM115 - closed by the OS
    child.start()
    return child


def line_status(child: KioskChild, barcode: str, status: str, timeout_s: float = 10.0) -> None:
    held = child.wait_for(
        lambda s: any(x["status"] == status for x in s.lines.get(barcode, ())), timeout_s
    )
    assert held, f"{barcode} never shown {status}; saw {child.shown.lines.get(barcode)}"


def online(child: KioskChild, want: bool, timeout_s: float = 15.0) -> None:
    assert child.wait_for(lambda s: s.view.get("online") is want, timeout_s), (
        f"the kiosk did not go {'online' if want else 'offline'}"
    )


def step(child: KioskChild, line: str) -> None:
    reply = child.call("step", line=line)
    assert reply.get("type") == "done", reply


def rows(child: KioskChild, barcode: str) -> list[dict[str, Any]]:
    return child.call("rows", item=barcode)["rows"]


def lend_and_return_offline(child: KioskChild, loan_item: str, return_item: str) -> None:
    """With the link cut: the reader taps (admitted by card alone), borrows one book and
    drops another; both lines are shown done."""
    step(child, f"tap {NLC_READER}")
    assert child.wait_for(lambda s: s.view.get("screen") == "borrow", 10)
    step(child, f"scan {loan_item}")
    line_status(child, loan_item, "offline_loaned")
    step(child, f"drop {return_item}")
    line_status(child, return_item, "returned")


def journal_left(path: Path, *items: str) -> list[tuple[str, str, str, int, str | None]]:
    """(txn_id, kind, status, attempts, ack) of the rows a dead kiosk left, read-only:
    `Journal.open` would requeue in-flight rows, hiding what the kill left behind."""
    marks = ", ".join("?" for _ in items)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        found = conn.execute(
            f"SELECT txn_id, payload, status, attempts, ack FROM rows WHERE item IN ({marks})"
            " ORDER BY seq",
            items,
        ).fetchall()
    return [(t, json.loads(p)["kind"], s, a, k) for t, p, s, a, k in found]


def ledger_rows_for(db_url: str, kiosk_id: str) -> int:
    """Every ledger row from this kiosk, whatever its txn id: a replay under a new id
    would show up here."""
    ledger = Ledger.open(db_url)
    try:
        row = ledger.db.query_one("SELECT COUNT(*) FROM txns WHERE kiosk_id = ?", (kiosk_id,))
        return int(row[0])
    finally:
        ledger.close()


class Observer:
    """A subscriber to one kiosk's txn and ack topics, as the test's wiretap identity
    (tests/e2e/conftest.py `wiretap`: only the kiosk itself may read its acks): sees what
    the broker accepted from the kiosk and what the hub answered (it steals nothing from
    the hub's shared subscription)."""

    def __init__(self, lab: Lab, broker: TlsMosquittoProcess, kiosk_id: str) -> None:
        address = parse_broker_url(broker.url)
        self.txns: queue.Queue[str] = queue.Queue()
        self.acks: list[dict[str, Any]] = []
        self._txn_topic = topics.topic(kiosk_id, "txn")
        self._ack_topic = topics.topic(kiosk_id, "ack")
        self._client = wiretap(lab, broker, "observer")
        self._subscribed = queue.Queue[int]()
        self._client.on_message = self._message
        self._client.on_subscribe = lambda _c, _u, _m, reasons, _p: self._subscribed.put(
            0 if any(r.is_failure for r in reasons) else 1
        )
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        self._client.subscribe([(self._txn_topic, 1), (self._ack_topic, 1)])
        assert self._subscribed.get(timeout=10), "the observer's subscriptions were refused"

    def _message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        if msg.topic == self._txn_topic:
            self.txns.put(body["txn_id"])
        else:
            self.acks.append(body)

    def next_txn(self, timeout_s: float = 10.0) -> str:
        return self.txns.get(timeout=timeout_s)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def observers() -> Iterator[list[Observer]]:
    made: list[Observer] = []
    yield made
    for observer in made:
        observer.close()


# ---- (a) killed between journal write and publish ---------------------------------------


@pytest.mark.slow
def test_kill_between_journal_write_and_publish(alliance, tmp_path, poll, children) -> None:
    """The link is cut, so a loan and a return are in the journal but never published
    when the kiosk is SIGKILLed; restarted on the same journal, it sends them and the
    ledger holds each once."""
    kiosk_id = "e2e-durable-a"
    journal = tmp_path / "journal.sqlite3"
    address = parse_broker_url(alliance.broker_url)
    proxy = CuttableProxy(address.host, address.port)
    try:
        via_proxy = f"mqtts://127.0.0.1:{proxy.port}"
        child = kiosk_child(alliance, journal, kiosk_id, tmp_path / "k.log", via_proxy)
        children.append(child)
        online(child, True)
        proxy.cut()
        online(child, False)
        loan_item, return_item = "30002000000133", "30105000000050"
        lend_and_return_offline(child, loan_item, return_item)
        child.kill()
    finally:
        proxy.close()

    # What the dead kiosk left: both rows journalled, neither ever published.
    recorded = journal_left(journal, loan_item, return_item)
    assert [r[1:] for r in recorded] == [
        ("loan", "pending", 0, None),
        ("return", "pending", 0, None),
    ]
    txn_ids = [r[0] for r in recorded]
    assert ledger_counts(alliance.db_url, txn_ids) == dict.fromkeys(txn_ids, 0)

    child = kiosk_child(alliance, journal, kiosk_id, tmp_path / "k.log")
    children.append(child)
    poll(
        lambda: [r["status"] for i in (loan_item, return_item) for r in rows(child, i)]
        == ["acked", "acked"],
        30, "the restarted kiosk's rows to be acked",
    )  # fmt: skip
    assert ledger_counts(alliance.db_url, txn_ids) == dict.fromkeys(txn_ids, 1)
    assert ledger_rows_for(alliance.db_url, kiosk_id) == 2


# ---- (b) killed between publish and ack -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("hub_down", ["frozen", "stopped"])
def test_kill_between_publish_and_ack(
    make_alliance, tmp_path, poll, children, observers, hub_down: str
) -> None:
    """The hub is frozen (SIGSTOP: it holds its connection) or stopped (its persistent
    session stays with the broker, which queues the txn for it: docs/ordering.md); the
    kiosk publishes a return, the broker takes it, no ack comes, the kiosk is SIGKILLed.
    Restarted on the same journal before the hub is back, it publishes the row again;
    with the hub back the ledger holds it once, and the hub, which gets both copies,
    answers the repeat "duplicate"."""
    world = make_alliance()
    kiosk_id = f"e2e-durable-b-{hub_down}"
    journal = tmp_path / "journal.sqlite3"
    observer = Observer(world.lab, world.broker, kiosk_id)
    observers.append(observer)
    item = "30106000000058"

    child = kiosk_child(world, journal, kiosk_id, tmp_path / "k.log")
    children.append(child)
    online(child, True)
    if hub_down == "frozen":
        world.hub.freeze()
    else:
        world.hub.stop()
    step(child, f"drop {item}")
    line_status(child, item, "returned")
    txn_id = observer.next_txn()  # the broker accepted the publish
    [row] = rows(child, item)
    assert (row["txn_id"], row["status"]) == (txn_id, "sent")
    child.kill()

    assert journal_left(journal, item) == [(txn_id, "return", "sent", 1, None)]
    assert ledger_counts(world.db_url, [txn_id]) == {txn_id: 0}

    child = kiosk_child(world, journal, kiosk_id, tmp_path / "k.log")
    children.append(child)
    assert observer.next_txn() == txn_id  # the restarted kiosk sent the row again
    if hub_down == "frozen":
        world.hub.thaw()
    else:
        world.hub.start()
    poll(lambda: [r["status"] for r in rows(child, item)] == ["acked"], 30, "the hub's ack")

    assert ledger_counts(world.db_url, [txn_id]) == {txn_id: 1}
    assert ledger_rows_for(world.db_url, kiosk_id) == 1
    results = [a["result"] for a in observer.acks if a["txn_id"] == txn_id]
    assert results[0] == "committed"
    poll(
        lambda: len([a for a in observer.acks if a["txn_id"] == txn_id]) >= 2,
        10,
        "the repeat's ack",
    )
    results = [a["result"] for a in observer.acks if a["txn_id"] == txn_id]
    assert results[1:] and set(results[1:]) == {"duplicate"}, results


# ---- (c), (d) restarts while a backlog drains ------------------------------------------

BACKLOG = 1500  # about 2 s of draining on this kind of machine: long enough to interrupt
BACKLOG_MEMBERS = ("haidian", "fengtai", "chaoyang", "xicheng", "dongcheng")


def fill_journal(path: Path, kiosk_id: str, count: int) -> list[str]:
    """`count` returns journalled while offline (as a kiosk on a van with no 4G would),
    of real catalogue items; the txn ids in journal order."""
    ids = TxnIdFactory(kiosk_id, None)
    per_member = -(-count // len(BACKLOG_MEMBERS))
    txn_ids = []
    # One every 3 s, up to now: as fast as a chute takes books (more than
    # `[hub] returns_per_minute` would be held for staff, hub/ledger/txn_plausibility.py).
    start = datetime.now(BEIJING) - timedelta(seconds=3 * count)
    with Journal.open(path) as journal:
        for n in range(count):
            member = BACKLOG_MEMBERS[n // per_member]
            txn = messages.Txn(
                txn_id=ids.next_id(),
                kiosk_id=kiosk_id,
                library_id="capital",
                kind="return",
                item=item_barcode(REGISTRY, member, 22 + n % per_member),
                at=start + timedelta(seconds=3 * n),
                mode="offline",
                route="transfer",
            )
            journal.record(txn)
            txn_ids.append(txn.txn_id)
    return txn_ids


def start_kiosk(world: Alliance, kiosk_id: str, journal: Path) -> Kiosk:
    """An in-process kiosk (firmware.assembly) on simulated hardware, with its enrolment
    bundle as `--identity DIR` gives it."""
    bundle = world.lab.kiosk(kiosk_id, "capital").cert.parent
    config = load_config(
        None, {"hub.broker": world.broker_url, "kiosk.id": kiosk_id, **enrolment_overrides(bundle)}
    )
    return build_simulated_kiosk(config, journal_path=journal).start()


@pytest.fixture
def kiosks() -> Iterator[list[Kiosk]]:
    made: list[Kiosk] = []
    yield made
    for kiosk in made:
        kiosk.stop()


def drained(kiosk: Kiosk) -> dict[str, int] | None:
    counts = kiosk.journal.counts()
    return counts if counts["pending"] + counts["sent"] == 0 else None


@pytest.mark.slow
@pytest.mark.parametrize("restarted", ["broker", "hub"])
def test_restart_mid_backlog(make_alliance, tmp_path, poll, kiosks, restarted: str) -> None:
    """A kiosk comes back with a backlog; while it drains the broker (c) or the hub (d)
    is stopped and started again. Every row ends acked and each txn is in the ledger
    once. (d) waits for the kiosk's resend of rows the stopped hub never saw
    (firmware.hub_link.outbox.DEFAULT_RESEND_AFTER_S, 10 s)."""
    world = make_alliance()
    kiosk_id = f"e2e-backlog-{restarted}"
    journal = tmp_path / "journal.sqlite3"
    txn_ids = fill_journal(journal, kiosk_id, BACKLOG)

    kiosk = start_kiosk(world, kiosk_id, journal)
    kiosks.append(kiosk)
    poll(lambda: kiosk.journal.counts()["acked"] >= 100, 30, "the backlog to start draining")
    if restarted == "broker":
        world.broker.stop()
    else:
        world.hub.stop()
    at_stop = kiosk.journal.counts()
    assert at_stop["acked"] < BACKLOG, "the backlog drained before the restart: make it longer"
    if restarted == "broker":
        poll(lambda: not kiosk.link.connected, 10, "the kiosk to notice the broker is gone")
        world.broker.start()
    else:
        world.hub.start()

    counts = poll(lambda: drained(kiosk), 90, f"the backlog to drain after the {restarted} restart")
    assert counts == {"pending": 0, "sent": 0, "acked": BACKLOG, "rejected": 0, "exception": 0}
    assert ledger_counts(world.db_url, txn_ids) == dict.fromkeys(txn_ids, 1)
    assert ledger_rows_for(world.db_url, kiosk_id) == BACKLOG
