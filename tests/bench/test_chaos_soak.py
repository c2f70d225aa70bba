"""The chaos soak's short run (`make soak` for the long one): half a minute of readers at
six kiosks while a hub worker, the broker, a kiosk's route, a kiosk's power and
Dongcheng's SIP2 system are each killed at least once (a fixed seed), then the end is
judged. This is what keeps the soak from rotting: the rig, the faults and the verdict
all run, through the command line and its exit status, as `make soak` runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos_schedule import KINDS

ROOT = Path(__file__).resolve().parents[2]
SEED = 2012


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_a_short_chaos_soak_with_every_fault_kind_keeps_every_invariant() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--minutes", "0.5", "--seed", str(SEED),
         "--faults-per-minute", "12", "--drain-s", "30"],
        cwd=ROOT, capture_output=True, text=True, timeout=160, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert f"seed {SEED}" in out and "schedule: [" in out, out[-3000:]  # a failure can be replayed
    injected = set(re.findall(r"FAULT (\w+)", out))
    assert injected >= set(KINDS), f"never injected: {set(KINDS) - injected}\n{out[-3000:]}"
    assert "VERDICT: PASS" in out, out[-4000:]
    assert done.returncode == 0, out[-3000:]
