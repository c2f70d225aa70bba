"""The kiosk alone in a child process, as a Pi runs it: resident memory, CPU while idle
on the attract screen, and start -> ready (bench/kiosk_e2e.py's figure (4))."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.e2e_rig import KIOSK_ID, LIBRARY_ID, ROOT
from bench.endpoints import Endpoint

_CHILD = """
import json, os, sys, tempfile, time
t_proc = float(sys.argv[3])
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bench.e2e_rig import start_kiosk
with tempfile.TemporaryDirectory() as tmp:
    t_imported = time.time()
    bk = start_kiosk(sys.argv[2], Path(tmp) / "journal.sqlite3", identity=Path(sys.argv[5]) if sys.argv[5] else None)
    t_ready = time.time()
    time.sleep(1.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(float(sys.argv[4]))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    rss = hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    print("KIOSK-BENCH " + json.dumps({
        "build_to_ready_s": bk.start_to_ready_s,
        "exec_to_ready_s": t_ready - t_proc,
        "imports_s": t_imported - t_proc,
        "idle_cpu_s": cpu1 - cpu0,
        "idle_wall_s": wall1 - wall0,
        "rss_mb": rss / 1024,
        "peak_rss_mb": hwm / 1024,
        "threads": len(os.listdir("/proc/self/task")),
    }), flush=True)
    bk.kiosk.stop()
"""


def measure_kiosk_process(endpoint: Endpoint, idle_s: float = 10.0) -> dict[str, float]:
    """A kiosk alone in a child process: RSS, CPU seconds over `idle_s` idle, start -> ready
    (on TLS: the enrolled bench kiosk, its handshake and the hub key included)."""
    env = dict(os.environ)
    identity = endpoint.kiosk_bundle_dir(KIOSK_ID, LIBRARY_ID)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), endpoint.url, repr(time.time()), str(idle_s),
         str(identity or "")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=idle_s + 60,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("KIOSK-BENCH "):
            figures = json.loads(line.removeprefix("KIOSK-BENCH "))
            figures["idle_cpu_percent"] = 100 * figures["idle_cpu_s"] / figures["idle_wall_s"]
            return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    raise RuntimeError(f"kiosk child failed (exit {done.returncode}): {done.stderr[-1500:]}")
