"""End-to-end kiosk figures through the REAL broker and the REAL hub process.

A simulated kiosk (hal_sim rig under the real drivers, `firmware.assembly.build_kiosk`)
runs in this process against a private broker and a `python -m hub` child with its
own SQLite ledger: by default the secure setup (`bench.endpoints`, `hub.lab.lab`): the TLS
broker, the kiosk enrolled with its own certificate and verifying what the hub signs,
the hub with its worker certificate and signing key serving only enrolled kiosks. The
same figures can be taken on a plain anonymous broker (`plain_endpoint()`) to show
what TLS costs. Views are timestamped with `runtime.on_view`, so every figure ends
where a reader would see it: the greeting (PIN screen) after a tap, the book's line
showing "loaned" with a due date after a scan.

Each latency is measured twice: from the physical act (the card entering the field,
the scanner writing the barcode into its pty), and from the device event posted into
the runtime's queue (CardPresented / BarcodeRead), so the card reader's poll interval
and the pty are separated from the core + hub link + broker + hub part. What they run
on (the hub child, the kiosk and its views, the readers, the returning kiosk) is
bench.e2e_rig; the kiosk process alone is bench.kiosk_process. Run alone: `python -m bench.kiosk_e2e` prints the figures as JSON.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.e2e_rig import (
    KIOSK_ID,
    LIBRARY_ID,
    BenchKiosk,
    Reader,
    Returner,
    demo_readers,
    ledger_exceptions,
    on_screen,
    running_hub,
    shelf_items,
    shows_loaned,
    start_kiosk,
    summary_ms,
    wait_journal_acked,
)
from bench.endpoints import Endpoint
from bench.kiosk_process import measure_kiosk_process

# ---- (1) tap -> greeting --------------------------------------------------------------


def measure_taps(bk: BenchKiosk, readers: list[Reader], n: int, direct: bool) -> dict[str, float]:
    """Seconds from a card tap to the PIN screen; `direct` posts CardPresented itself.

    A physical tap waits a random fraction of a poll interval first: the removal wait
    ends right after a poll, and tapping then would always cost a whole interval.
    """
    from drivers.events import CardPresented, CardRemoved
    from hal_sim.cards import library_card

    rig = bk.kiosk.rig
    interval = bk.runtime.devices.card_reader.interval_s
    phase = random.Random(2012)
    times: list[float] = []
    for k in range(n):
        card = readers[k % len(readers)]
        bk.to_attract()
        if not direct:
            time.sleep(phase.uniform(0, interval))
        mark = bk.views.mark()
        if direct:
            virtual = library_card(card.number)
            data = card.number.encode().ljust(48, b" ")
            t0 = time.perf_counter()
            bk.runtime.post(CardPresented(virtual.uid, data))
        else:
            t0 = time.perf_counter()
            rig.tap(card.number)
        t1 = bk.views.wait(on_screen("pin"), mark)
        times.append(t1 - t0)
        bk.press("cancel", "attract")
        if direct:
            bk.runtime.post(CardRemoved(virtual.uid))
        else:
            bk.remove_card()
    return summary_ms(times)


# ---- (2) scan -> loaned with due date -------------------------------------------------


def measure_scans(
    bk: BenchKiosk, returner: Returner, readers: list[Reader], items: list[str], per_session: int = 3
) -> dict[str, Any]:
    """Seconds from a desk scan to the book's line showing "loaned" with a due date.

    Books alternate between the pty scanner ("scanner") and BarcodeRead posted into the
    runtime ("event"). Sessions of `per_session` books keep every reader under the
    loan limit; after each session the kiosk's loans are committed and the books are
    returned by another kiosk so the next reader starts clean. "journal" counts the
    kiosk's journal rows by status at the end (all "acked": every loan committed, no
    exception, none rejected).
    """
    from contract.screens import PinEntered
    from drivers.events import BarcodeRead

    rig = bk.kiosk.rig
    by_way: dict[str, list[float]] = {"scanner": [], "event": []}
    k = 0
    session = 0
    while k < len(items):
        card = readers[session % len(readers)]
        session += 1
        bk.to_attract()
        mark = bk.views.mark()
        rig.tap(card.number)
        bk.views.wait(on_screen("pin"), mark)
        mark = bk.views.mark()
        bk.runtime.post(PinEntered(card.pin))
        bk.views.wait(on_screen("borrow"), mark)
        batch = items[k : k + per_session]
        for barcode in batch:
            way = "scanner" if k % 2 == 0 else "event"
            mark = bk.views.mark()
            t0 = time.perf_counter()
            if way == "scanner":
                rig.desk.scan(barcode)
            else:
                bk.runtime.post(BarcodeRead(barcode, "desk"))
            t1 = bk.views.wait(shows_loaned(barcode), mark)
            by_way[way].append(t1 - t0)
            k += 1
        bk.press("finish", "summary")
        bk.remove_card()
        bk.press("finish", "attract")
        wait_journal_acked(bk)
        returner.return_items(batch)
    result: dict[str, Any] = {way: summary_ms(times) for way, times in by_way.items()}
    result["journal"] = bk.kiosk.journal.counts()
    return result


# ---- (3) backlog through the real hub -------------------------------------------------


def measure_backlog_real_hub(endpoint: Endpoint, n: int, timeout_s: float = 120.0) -> dict[str, float]:
    """n journal rows (offline returns of real catalogue books, so the hub does a real
    return for each) drained through HubLink into the real hub until every ack is in,
    vs a bare QoS 1 publish of n messages."""
    from bench.kiosk_link import measure_backlog_drain
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    books = [i.barcode for i in catalogue.generate_items(load_registry(), per_member=400)]
    return measure_backlog_drain(endpoint, n, acker=False, items=books[:n], timeout_s=timeout_s)


# ---- all of it ------------------------------------------------------------------------


def run_all(
    endpoint: Endpoint,
    *,
    taps: int = 100,
    scans: int = 100,
    backlog: int = 10_000,
    progress: Callable[[str], None] = lambda _s: None,
) -> dict[str, Any]:
    """Every end-to-end figure on one broker and one hub child; bare RTT baseline too
    (measured before the hub starts: the hub would answer the bare requests as well)."""
    from bench.kiosk_link import measure_bare_rtt

    results: dict[str, Any] = {"broker": endpoint.label}
    readers = demo_readers()
    items = shelf_items(2 * scans)
    progress("bare MQTT request/response round trip (baseline)")
    results["bare_rtt"] = measure_bare_rtt(endpoint)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        identity = endpoint.kiosk_bundle_dir(KIOSK_ID, LIBRARY_ID)
        with running_hub(endpoint, Path(tmp)) as hub:
            results["hub_ready_s"] = round(hub.ready_s, 3)
            bk = start_kiosk(endpoint.url, Path(tmp) / "journal.sqlite3", identity=identity)
            returner = Returner(endpoint)
            try:
                results["start_to_ready_in_process_s"] = round(bk.start_to_ready_s, 3)
                progress(f"card tap -> greeting, {taps} taps through the card reader (poll 0.1 s)")
                results["tap_physical"] = measure_taps(bk, readers, taps, direct=False)
                progress(f"card tap -> greeting, {taps} CardPresented events posted directly")
                results["tap_event"] = measure_taps(bk, readers, taps, direct=True)
                progress(f"scan -> book shown with due date, {2 * scans} books")
                scans_by_way = measure_scans(bk, returner, readers, items)
                results["scan_physical"] = scans_by_way["scanner"]
                results["scan_event"] = scans_by_way["event"]
                results["kiosk_journal"] = scans_by_way["journal"]
                results["ledger_exceptions"] = ledger_exceptions(
                    Path(tmp) / "hub.sqlite", [KIOSK_ID, returner.kiosk_id]
                )
            finally:
                returner.close()
                bk.kiosk.stop()
            progress("kiosk process: RSS, idle CPU over 10 s, start -> ready")
            results["kiosk_process"] = measure_kiosk_process(endpoint)
            progress(f"offline backlog of {backlog} txns through the real hub")
            try:
                results["backlog_real_hub"] = measure_backlog_real_hub(endpoint, backlog)
            except TimeoutError as exc:
                results["backlog_real_hub"] = {"skipped": f"did not finish: {exc}"}
    return results


if __name__ == "__main__":
    from bench.endpoints import secure_endpoint

    with secure_endpoint() as target:
        print(json.dumps(run_all(target, progress=print), indent=2))
