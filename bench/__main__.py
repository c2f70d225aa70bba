"""`make bench`: every benchmark of docs/commands.md, each next to its baseline measured in the
same run on the same machine and broker, printed as a table and written to
bench/results.json.

Why same-run baselines: absolute numbers swing with the machine and its load; the
ratio to a floor measured minutes apart on the same loopback (a bare MQTT round trip,
a bare QoS 1 publish) is what says whether our code adds cost.

Every step that needs a broker runs on the secure setup, as deployed (issue 10 item 7,
`bench.endpoints`): a local CA in a temporary directory, its TLS broker with client
certificates and roles, kiosks enrolled, the hub with its certificate and signing key.
The end-to-end tap -> greeting and scan -> book are measured once more on a plain
anonymous broker in the same run, and shown side by side (TLS / plain TCP), so the
cost of TLS is a figure; each baseline is taken on the broker type of its figure. A figure that cannot be
measured here (no PostgreSQL, no display libraries) gets a row saying why instead of
stopping the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.e2e_steps import run_end_to_end, run_plain_comparison
from bench.report import render_table
from bench.rows import (
    device_rows,
    hub_rows,
    link_rows,
    rfid_rows,
    sip2_checkout_rows,
    ui_rows,
)
from bench.steps import Bench

RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BROKER_STEPS = (
    "kiosk_link", "hub", "hub_answers", "bare_rtt", "tap_physical", "tap_event", "scan",
    "kiosk_process", "backlog_real_hub", "sip2_checkout", "bare_rtt_plain", "tap_event_plain",
    "scan_plain", "tls_vs_plain",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run, not figures")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results.json goes")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ALLIANCE_BENCH_POSTGRES")
        or os.environ.get("ALLIANCE_TEST_POSTGRES", DEFAULT_POSTGRES),
        help="PostgreSQL URL for the hub's ledger (skipped when none answers)",
    )
    parser.add_argument(
        "--only", action="append", metavar="STEP",
        help="run only this step (its results.json key, e.g. rfid_inventory); repeatable",
    )
    args = parser.parse_args(argv)
    only = set(args.only) if args.only else None
    quick = args.quick
    taps, scans, backlog, idle_s = (10, 6, 1_000, 2.0) if quick else (100, 100, 10_000, 10.0)

    log_path = Path(tempfile.gettempdir()) / f"alliance-bench-{os.getpid()}.log"
    logging.basicConfig(filename=log_path, level=logging.WARNING, force=True)

    from bench import catalogue, hub_answers, kiosk_link, rfid, rfid_inventory, sd_writes
    from bench import hub as hub_bench
    from bench.endpoints import secure_endpoint

    bench = Bench(total=len(only) if only else 20, only=only)
    no_broker = ""
    with ExitStack() as stack:
        try:
            needs_broker = only is None or bool(only & set(BROKER_STEPS))
            secure = stack.enter_context(secure_endpoint()) if needs_broker else None
        except Exception as exc:
            no_broker = f"the secure broker did not start: {type(exc).__name__}: {exc}"[:300]
            print(no_broker, flush=True)
            secure = None

        bench.step("rfid", "RFID: SPI transfers per empty poll, ours vs mfrc522 package",
                   rfid.measure_empty_poll_transfers, rfid_rows)
        bench.step("rfid_inventory",
                   "RFID pad (PN5180): stacks of 1, 5, 20 tags vs one at a time; empty-pad poll (modelled air time)",
                   rfid_inventory.measure, rfid_inventory.rows)
        bench.step("devices", "devices: scan → event through the pty; chute books/hour, rising drop rate",
                   _device_figures, device_rows)
        bench.step("sd_writes", "SD card: bytes written per txn (/proc/self/io), journal vs bare SQLite",
                   lambda: sd_writes.measure(100 if quick else 1000), sd_writes.rows)
        bench.step("catalogue", "demo catalogue: generate_items vs building as many records",
                   catalogue.measure, catalogue.rows)
        if secure is None:
            for key in BROKER_STEPS:
                bench.skip(key, key, no_broker)
        else:
            target = secure
            bench.step("kiosk_link",
                       f"hub link (TLS): request RTT vs bare; backlog of {backlog:,} to a trivial acker",
                       lambda: kiosk_link.run_all(target, backlog), link_rows)
            bench.step("hub", "hub commits/s (TLS) on SQLite and PostgreSQL vs bare QoS 1 msgs/s",
                       lambda: hub_bench.run_all(2000 if not quick else 500, args.postgres, target), hub_rows)
            bench.step("hub_answers", "hub worker: reader lookup handled, and its round trip (TLS), vs floors",
                       lambda: hub_answers.measure(target, 100 if quick else 500, 300 if quick else 2000), hub_answers.rows)
            run_end_to_end(bench, secure, taps, scans, backlog, idle_s)
            sip2_n = 20 if quick else 100
            bench.step("sip2_checkout",
                       f"checkout through SIP2 (ILS sim) vs the built-in catalogue (TLS), {sip2_n} of each",
                       lambda: _sip2_checkout(target, sip2_n, 3 if quick else 5), sip2_checkout_rows)
            run_plain_comparison(bench, taps, scans)
        bench.step("ui", "UI: Kivy frame time and RSS (child process, offscreen)",
                   lambda: _measure_ui(quick), ui_rows)

    unknown = sorted((only or set()) - set(bench.raw))
    if unknown:
        print(f"no bench step named {', '.join(unknown)}; nothing written", file=sys.stderr)
        return 2
    duration = time.perf_counter() - bench.started
    print()
    print(render_table(bench.rows))
    print(f"\nmake bench took {duration:.0f} s; warnings and errors logged to {log_path}")
    args.out.write_text(
        json.dumps(
            {
                "finished_at": datetime.now(UTC).isoformat(),
                "duration_s": round(duration, 1),
                "quick": quick,
                "only": sorted(only) if only else None,
                "machine": {
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "rows": [r.as_json() for r in bench.rows],
                "raw": bench.raw,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"results written to {args.out}")
    return 0


def _device_figures() -> dict[str, Any]:
    """bench/devices.py (pty scanner, chute); a missing module is a row, not a crash."""
    try:
        from bench import devices
    except ImportError as exc:
        raise RuntimeError(f"bench/devices.py is not there yet ({exc})") from None
    return devices.run_all()


def _measure_ui(quick: bool) -> dict[str, float]:
    """bench/ui.py runs Kivy in a child process; without it the UI figures are skipped."""
    try:
        from bench import ui
    except ImportError as exc:
        raise RuntimeError(f"bench/ui.py is not there yet ({exc})") from None
    env = {"SDL_VIDEODRIVER": "offscreen"} if not os.environ.get("DISPLAY") else {}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return ui.measure_ui(frames=60 if quick else 300)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sip2_checkout(endpoint: Any, n: int, warmup: int) -> dict[str, Any]:
    """bench/sip2_checkout.py: a hub child with `[sip2]` tables and the ILS simulator."""
    from bench import sip2_checkout

    return sip2_checkout.measure(endpoint, n, warmup)


if __name__ == "__main__":
    sys.exit(main())
