"""The fleet bench's kiosks: N real kiosk links in this process, each a journal and the
kiosk's own `HubLink` (its certificate, verifying what the hub signs), as a kiosk runs.

One process holds them all: a link is two threads (paho's network thread and the pump),
so 1,000 kiosks are about 2,000 threads; the bench prints this process's RSS and thread
count so the price of that model is on record (docs/ordering.md, "A fleet of 1,000").

What the phases use:
- `FleetKiosk.connect()` starts a new link (a stopped link is never restarted: a kiosk
  that comes back builds a new one, as the kiosk process does after a restart);
- `record_returns` journals offline returns, as a kiosk does while its route is down;
- `ReaderTap` times `reader_lookup` round trips from one kiosk, tap to answer, at a
  reader's pace (one every `every_s`), while the others do what the phase makes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from contract import messages, signing
from firmware.core.events import HubAnswered, HubTimedOut, TxnAcked
from firmware.hub_link import HubLink
from firmware.hub_link.connection import TlsFiles
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory
from hub.pki.kiosk_certs import KioskBundle


class FleetKiosk:
    """One kiosk: journal, identity, and its current link (None while it is offline)."""

    def __init__(self, bundle: KioskBundle, workdir: Path, hub_key: signing.Ed25519PublicKey) -> None:
        self.kiosk_id, self.library_id = bundle.kiosk_id, bundle.library_id
        self.tls = TlsFiles(ca=bundle.ca, cert=bundle.cert, key=bundle.key)
        self.hub_key = hub_key
        self.journal_path = workdir / f"{bundle.kiosk_id}.sqlite3"
        self.journal = Journal.open(self.journal_path)
        self.ids = TxnIdFactory(bundle.kiosk_id, None)
        self.link: HubLink | None = None
        self.recorded: list[str] = []  # txn ids, in journal order
        self.acked: dict[str, str] = {}  # txn id -> the result of the ack that settled it
        self.duplicate_acks = 0
        self._answers: dict[str, tuple[threading.Event, list[object]]] = {}
        self._lock = threading.Lock()

    def _on_event(self, event: object) -> None:
        """The link's `post` (paho's thread and the pump): acks and answers, thread-safe."""
        if isinstance(event, TxnAcked):
            with self._lock:
                if event.ack.result == "duplicate":
                    self.duplicate_acks += 1
                self.acked.setdefault(event.txn_id, event.ack.result)
        elif isinstance(event, HubAnswered | HubTimedOut):
            with self._lock:
                waiting = self._answers.pop(event.corr_id, None)
            if waiting is not None:
                waiting[1].append(event)
                waiting[0].set()

    def connect(self, broker_url: str, telemetry_interval_s: float) -> None:
        self.link = HubLink(
            broker_url, self.kiosk_id, self.library_id, self._on_event,
            firmware_version="fleet", journal=self.journal, tls=self.tls, hub_public_key=self.hub_key,
            telemetry_interval_s=telemetry_interval_s,
        )  # fmt: skip
        self.link.start()

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.connected

    def go_offline(self) -> None:
        """A clean stop: "offline" retained, the journal keeps what is unacked."""
        if self.link is not None:
            self.link.stop(timeout=2.0)
            self.link = None

    def record_returns(self, books: Sequence[str], first_at: datetime, apart: timedelta) -> None:
        """One offline return per book, `apart` from each other from `first_at`, to its shelf."""
        for n, book in enumerate(books):
            txn = messages.Txn(
                txn_id=self.ids.next_id(), kiosk_id=self.kiosk_id, library_id=self.library_id,
                kind="return", card=None, item=book, at=first_at + n * apart, mode="offline",
                route="shelve",
            )  # fmt: skip
            self.journal.record(txn)
            self.recorded.append(txn.txn_id)
        if self.link is not None:
            self.link.notify_new_txn()

    def unacked(self) -> int:
        with self._lock:
            return sum(1 for txn_id in self.recorded if txn_id not in self.acked)

    def ask(self, corr_id: str, request: messages.ReaderLookup, timeout_s: float = 10.0) -> object | None:
        """Send `request` and wait for its answer (HubAnswered) or HubTimedOut."""
        assert self.link is not None
        waiting: tuple[threading.Event, list[object]] = (threading.Event(), [])
        with self._lock:
            self._answers[corr_id] = waiting
        self.link.request(corr_id, request)
        waiting[0].wait(timeout_s)
        return waiting[1][0] if waiting[1] else None

    def close(self) -> None:
        self.go_offline()
        self.journal.close()


def in_parallel(action: Callable[[FleetKiosk], None], kiosks: Sequence[FleetKiosk], threads: int = 32) -> None:
    """`action` on every kiosk, `threads` at a time (stopping 1,000 links one by one
    takes a second per few dozen: each waits for its "offline" to be published)."""
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(action, kiosks))


class ReaderTap:
    """`reader_lookup` from one kiosk every `every_s` in a thread, until `stop()`: the
    round trips (ms) of answered lookups, and how many failed (timed out or refused)."""

    def __init__(self, kiosk: FleetKiosk, card: messages.CardRef, every_s: float = 0.1) -> None:
        self.kiosk, self.every_s = kiosk, every_s
        self.request = messages.ReaderLookup(op="reader_lookup", card=card, library_id=kiosk.library_id)
        self.times_ms: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._n = 0

    def start(self) -> ReaderTap:
        self._thread = threading.Thread(target=self._run, name="reader-tap", daemon=True)
        self._thread.start()
        return self

    def run_for(self, seconds: float) -> ReaderTap:
        self.start()
        time.sleep(seconds)
        return self.stop()

    def stop(self) -> ReaderTap:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._n += 1
            started = time.perf_counter()
            event = self.kiosk.ask(f"tap-{self._n}", self.request)
            if isinstance(event, HubAnswered) and event.response.ok:
                self.times_ms.append((time.perf_counter() - started) * 1000)
            else:
                self.failed += 1
            self._stop.wait(max(0.0, self.every_s - (time.perf_counter() - started)))

    def percentile(self, fraction: float) -> float | None:
        if not self.times_ms:
            return None
        ordered = sorted(self.times_ms)
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)
