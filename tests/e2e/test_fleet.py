"""A small fleet, end to end on the secure setup (`python -m bench.fleet`, bench/fleet.py):
50 enrolled kiosks, each its own certificate and the real `HubLink` over a journal,
against one hub worker process and one TLS broker. The invariants of the city-scale run:
every kiosk online in the hub's fleet view after the connect storm, every offline txn of
the morning catch-up acked, every txn in the ledger once, all back after the broker is
SIGKILLed, and `hub status` summing the fleet up in its last line. Bounded (~30 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is run from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from bench import fleet  # noqa: E402

N = 50


@pytest.mark.slow
def test_a_fleet_of_50_is_online_acked_and_committed_once() -> None:
    out = fleet.run(N, txns=4, telemetry_s=5.0, steady_s=1.0, tap_s=1.0, max_wait_s=40.0, log=print)
    got = {(f.phase, f.what): f.value for f in out.figures}
    assert got[("a storm", "all N links up")] is not None
    assert got[("a storm", "all N online in the hub's fleet view")] is not None
    assert got[("c catch-up", f"{(N - 1) * 4} offline returns (4 per kiosk) all acked")] is not None
    assert got[("c catch-up", "online again in the hub's view")] == N - 1
    assert got[("e restart", "all N online in the hub's view")] is not None
    assert got[("e restart", "every unacked txn acked")] is not None
    assert got[("f status", "its summary line")] == f"{N} kiosks: {N} online; none needs attention"
    assert str(got[("f status", "hub status --json: s / kiosks online")]).endswith(f" / {N}")
    # every txn journalled: (N - 1) x 4 in the catch-up, one per kiosk at the restart
    assert out.sent == (N - 1) * 4 + N
    assert (out.acked, out.unacked, out.missing, out.twice) == (out.sent, 0, 0, 0)
    assert out.ok
