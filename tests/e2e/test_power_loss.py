"""Power loss for real (docs/architecture.md "Durability"; issue 21): the kiosk's journal
lives on `hal_sim.lazy_disk`, a FUSE filesystem that keeps every write not yet fsync'd in
its own memory and loses it at a power cut. SIGKILL alone keeps the operating system's
page cache; here the cut drops it, the kiosk is killed, the disk is mounted again with
only what was synced, and the kiosk restarts on what is left.

What the reader was told is everything the kiosk wrote to its view channel before it
died (read to the end of the pipe, not what the test happened to see in time): each
loan and return told must be in the journal after the restart and reach the hub ledger
once, though the restarted kiosk may send it again.
"""

from __future__ import annotations

import pytest

from contract.broker_url import parse_broker_url
from hal_sim.lazy_disk_mount import LazyDisk
from hal_sim.tcp_proxy import CuttableProxy
from kiosk_tools.kiosk_child import Shown
from tests.e2e.test_durability import (
    kiosk_child,
    ledger_counts,
    ledger_rows_for,
    lend_and_return_offline,
    line_status,
    online,
    rows,
    step,
)

# A line in one of these states tells the reader a loan or return was made.
TOLD = {"loaned": "loan", "renewed": "renew", "offline_loaned": "loan", "returned": "return"}


def told(shown: Shown) -> dict[str, str]:
    """item -> kind of every loan or return the reader was shown as made."""
    return {
        item: TOLD[line["status"]]
        for item, lines in shown.lines.items()
        for line in lines
        if line.get("status") in TOLD
    }


@pytest.mark.slow
def test_a_power_cut_keeps_every_transaction_the_reader_was_told(
    alliance, tmp_path, poll, children, lazy_disk: LazyDisk
) -> None:
    """A return acked by the hub, then, offline, a loan and a return only the journal
    holds; then a fourth book goes in and the power is cut while its journal commit is
    being fsync'd. The fourth was never shown; after the reboot the journal still has
    the three that were, and the ledger ends with each once."""
    kiosk_id = "e2e-power-cut"
    journal = lazy_disk.mountpoint / "journal.sqlite3"
    log = tmp_path / "kiosk.log"
    acked_item, loan_item, return_item = "30106000000058", "30002000000133", "30105000000050"
    unsynced_item = "30101000000042"
    address = parse_broker_url(alliance.broker_url)
    proxy = CuttableProxy(address.host, address.port)
    try:
        child = kiosk_child(alliance, journal, kiosk_id, log, f"mqtts://127.0.0.1:{proxy.port}")
        children.append(child)
        online(child, True)
        step(child, f"drop {acked_item}")
        line_status(child, acked_item, "returned")
        poll(
            lambda: [r["status"] for r in rows(child, acked_item)] == ["acked"], 15, "the hub's ack"
        )
        proxy.cut()
        online(child, False)
        lend_and_return_offline(child, loan_item, return_item)
        # The worst moment: a book is in, its row written, the journal's fsync under way.
        lazy_disk.hold_syncs()
        child.send("step", line=f"drop {unsynced_item}")  # its answer may never come
        held = lazy_disk.wait_for_held_sync(10)
        lazy_disk.power_cut()  # the disk's cache is gone first: nothing more can reach it
        child.kill()
    finally:
        proxy.close()

    reader_was_told = told(child.read_to_end())
    lazy_disk.remount()
    child = kiosk_child(alliance, journal, kiosk_id, log)
    children.append(child)
    kept = {item: [(r["kind"], r["status"]) for r in rows(child, item)] for item in reader_was_told}
    lost = [item for item, kind in reader_was_told.items() if [k for k, _ in kept[item]] != [kind]]
    assert lost == [], f"told the reader, then lost in the power cut: {lost}; journal: {kept}"
    # The view comes after the journal's fsync: the book whose sync was held was not shown.
    assert unsynced_item not in reader_was_told, "the reader was told before the row was synced"
    assert reader_was_told == {acked_item: "return", loan_item: "loan", return_item: "return"}
    assert kept[acked_item] == [("return", "acked")]
    assert held is not None and held.startswith("/journal.sqlite3"), (
        f"the kiosk never synced its journal while recording {unsynced_item} (held: {held})"
    )
    # The cut really dropped a cache: the held row is gone, as it should be.
    assert rows(child, unsynced_item) == []

    poll(
        lambda: all(rows(child, i)[0]["status"] == "acked" for i in reader_was_told),
        30,
        "every told transaction to be acked after the reboot",
    )
    txn_ids = [rows(child, item)[0]["txn_id"] for item in reader_was_told]
    assert ledger_counts(alliance.db_url, txn_ids) == dict.fromkeys(txn_ids, 1)
    assert ledger_rows_for(alliance.db_url, kiosk_id) == len(reader_was_told)
