"""`python -m kiosk_tools diag`: the technician's self-test of every device.

Exit status 0 only when every device passes. `--json` prints the docs/commands.md shape:
`{"ok": bool, "devices": [{"device", "ok", "code", "hint"}, ...]}` (plus `detail`).
"""

from __future__ import annotations

import json
from typing import TextIO

from drivers.diagnostics import DiagResult
from firmware.devices import DeviceSet, summarise


def run_self_test(devices: DeviceSet, ready_timeout_s: float = 3.0) -> list[DiagResult]:
    """Start the devices, give the scanners time to open their ports, test each."""
    devices.start()
    devices.wait_ready(ready_timeout_s)
    return summarise(devices.self_test())


def report(results: list[DiagResult], *, as_json: bool, out: TextIO) -> int:
    ok = all(r.ok for r in results)
    if as_json:
        payload = {"ok": ok, "devices": [r.as_json() for r in results]}
        out.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write("Self-test\n")
        for r in results:
            mark = "PASS" if r.ok else "FAIL"
            out.write(f"  {mark}  {r.device:<14} {r.code:<22} {r.detail}\n")
            if not r.ok:
                out.write(f"        what to do: {r.hint}\n")
        out.write("All devices pass.\n" if ok else "Some devices FAILED: see above.\n")
    return 0 if ok else 1
