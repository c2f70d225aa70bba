"""The broker SIGKILLed for 20 s on the secure setup (issue 20, (b) of test_outages.py's
account): no worker of the real kiosk goes stale, the dead broker is known within
10 s, returns go on journalled and reach the hub once after, and the link is back
within a second or so of the broker."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import ledger_counts, wait_until
from tests.e2e.outage_watch import (
    KNOWN_DOWN_S,
    RECONNECT_S,
    all_settled,
    assert_never_stale,
    drop,
    journalled,
    report,
    returned_item,
    sleep_until,
    start_watched,
)

BROKER_DEAD_S = 20.0


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_the_broker_killed_for_twenty_seconds(
    make_alliance, tmp_path, watched, record_property
) -> None:
    world = make_alliance()
    started = time.monotonic()  # before the kiosk starts: it may be online before start_watched returns
    w = start_watched(world, "e2e-outage-killed", world.broker_url, tmp_path)
    watched.append(w)
    w.wait_online(True, started, 20)
    time.sleep(2)

    killed = time.monotonic()
    world.broker.kill()
    known_down = w.wait_online(False, killed, 30) - killed
    assert known_down <= KNOWN_DOWN_S, f"the dead broker was noticed after {known_down:.1f} s"
    items = [returned_item("fengtai", 41), returned_item("dongcheng", 42)]
    drop(w, items[0])
    sleep_until(killed + BROKER_DEAD_S / 2, w, lambda: None)
    drop(w, items[1])
    sleep_until(killed + BROKER_DEAD_S, w, lambda: None)
    assert [r.status for i in items for r in journalled(w, i)] == ["pending", "pending"]

    world.broker.start()  # on the same port; returns once it listens
    back = time.monotonic()
    reconnect = w.wait_online(True, back, 30) - back
    figures = assert_never_stale(w, killed, back + reconnect)
    figures |= {"known_down_after_s": known_down, "reconnected_after_s": reconnect}
    report("broker killed 20 s", figures, record_property)
    assert reconnect <= RECONNECT_S, f"reconnected {reconnect:.2f} s after the broker came back"

    wait_until(lambda: all_settled(w, items), 60, "the outage's returns acked by the hub")
    txn_ids = [r.txn.txn_id for i in items for r in journalled(w, i)]
    assert ledger_counts(world.db_url, txn_ids) == dict.fromkeys(txn_ids, 1)
