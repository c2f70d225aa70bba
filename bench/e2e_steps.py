"""The bench's end-to-end steps: the simulated kiosk against the secure broker and a
`python -m hub` child (tap, scan, kiosk process, backlog through the real hub), the same
tap and scan again on a plain anonymous broker, and each figure TLS beside plain TCP.
The measurements themselves are bench.kiosk_e2e and bench.kiosk_process."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.report import p50_p99_rows
from bench.rows import (
    backlog_real_rows,
    bare_rtt_rows,
    kiosk_process_rows,
    scan_rows,
    tap_rows,
    tls_vs_plain_rows,
)
from bench.steps import Bench


def _e2e_titles(label: str, taps: int, scans: int) -> dict[str, str]:
    return {
        "bare_rtt": f"bare MQTT request/response round trip, {label} (baseline for tap and scan)",
        "tap_physical": f"card tap → greeting ({label}), {taps} taps through the card reader (poll 0.1 s)",
        "tap_event": f"card tap → greeting ({label}), {taps} CardPresented posted into the runtime",
        "scan": f"scan → book shown with due date ({label}), {2 * scans} books (pty and BarcodeRead)",
    }


def _measure_scans(bk: Any, returner: Any, readers: Any, items: list[str], db: Path) -> dict[str, Any]:
    from bench import e2e_rig as rig
    from bench import kiosk_e2e as e2e

    raw = e2e.measure_scans(bk, returner, readers, items)
    raw["ledger_exceptions"] = rig.ledger_exceptions(db, [rig.KIOSK_ID, returner.kiosk_id])
    return raw


def run_end_to_end(bench: Bench, endpoint: Any, taps: int, scans: int, backlog: int, idle_s: float) -> None:
    """The simulated kiosk against the secure broker and a `python -m hub` child."""
    from bench import e2e_rig as rig
    from bench import kiosk_e2e as e2e
    from bench import kiosk_process
    from bench.kiosk_link import measure_bare_rtt

    label = endpoint.label
    titles = {
        **_e2e_titles(label, taps, scans),
        "kiosk_process": f"kiosk process ({label}): RSS, idle CPU over {idle_s:g} s, start → ready",
        "backlog_real_hub": f"offline backlog of {backlog:,} txns → all acked by the real hub ({label})",
    }
    # Before the hub starts: it would answer the bare requests on the kiosk's topic too.
    bare = bench.step("bare_rtt", titles["bare_rtt"], lambda: measure_bare_rtt(endpoint), bare_rtt_rows)
    with ExitStack() as stack:
        try:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
            hub_proc = stack.enter_context(rig.running_hub(endpoint, tmp))
            bench.raw["hub_ready_s"] = round(hub_proc.ready_s, 3)
        except Exception as exc:
            for key, title in titles.items():
                if key != "bare_rtt":
                    bench.skip(key, title, f"the hub did not start: {exc}"[:300])
            return

        readers = rig.demo_readers()
        try:
            identity = endpoint.kiosk_bundle_dir(rig.KIOSK_ID, rig.LIBRARY_ID)
            kiosk = rig.start_kiosk(endpoint.url, tmp / "journal.sqlite3", identity=identity)
            returner = rig.Returner(endpoint)
        except Exception as exc:
            for key in ("tap_physical", "tap_event", "scan"):
                bench.skip(key, titles[key], f"the kiosk did not start: {exc}"[:300])
        else:
            try:
                bench.step(
                    "tap_physical", titles["tap_physical"],
                    lambda: e2e.measure_taps(kiosk, readers, taps, direct=False),
                    lambda raw: p50_p99_rows(
                        f"card tap → greeting shown, via card reader ({label})", raw, bare,
                        f"bare RTT ({label})",
                        "includes waiting for the reader's next poll (0.1 s interval, random phase)"),
                )
                bench.step(
                    "tap_event", titles["tap_event"],
                    lambda: e2e.measure_taps(kiosk, readers, taps, direct=True),
                    tap_rows(label, bare),
                )
                bench.step(
                    "scan", titles["scan"],
                    lambda: _measure_scans(kiosk, returner, readers, rig.shelf_items(2 * scans),
                                           tmp / "hub.sqlite"),
                    scan_rows(label, bare),
                )
            finally:
                returner.close()
                kiosk.kiosk.stop()
        bench.step("kiosk_process", titles["kiosk_process"],
                   lambda: kiosk_process.measure_kiosk_process(endpoint, idle_s), kiosk_process_rows)
        bench.step("backlog_real_hub", titles["backlog_real_hub"],
                   lambda: _backlog_real_hub(endpoint, backlog), backlog_real_rows)


def run_plain_comparison(bench: Bench, taps: int, scans: int) -> None:
    """Tap → greeting and scan → book again on a plain anonymous broker (no TLS, nothing
    signed, the hub serving any kiosk), then each figure TLS beside plain TCP."""
    from bench import e2e_rig as rig
    from bench import kiosk_e2e as e2e
    from bench.endpoints import plain_endpoint
    from bench.kiosk_link import measure_bare_rtt

    label = "plain TCP"
    titles = _e2e_titles(label, taps, scans)
    keys = {"bare_rtt": "bare_rtt_plain", "tap_event": "tap_event_plain", "scan": "scan_plain"}
    with ExitStack() as stack:
        try:
            plain = stack.enter_context(plain_endpoint())
        except Exception as exc:
            for key, raw_key in keys.items():
                bench.skip(raw_key, titles[key], f"no plain broker: {exc}"[:300])
        else:
            bare = bench.step(keys["bare_rtt"], titles["bare_rtt"], lambda: measure_bare_rtt(plain),
                              bare_rtt_rows)
            try:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-plain-")))
                stack.enter_context(rig.running_hub(plain, tmp))
                kiosk = rig.start_kiosk(plain.url, tmp / "journal.sqlite3")
                stack.callback(kiosk.kiosk.stop)
                returner = rig.Returner(plain)
                stack.callback(returner.close)
            except Exception as exc:
                for key in ("tap_event", "scan"):
                    bench.skip(keys[key], titles[key], f"the plain hub or kiosk did not start: {exc}"[:300])
            else:
                readers = rig.demo_readers()
                bench.step(keys["tap_event"], titles["tap_event"],
                           lambda: e2e.measure_taps(kiosk, readers, taps, direct=True),
                           tap_rows(label, bare))
                bench.step(keys["scan"], titles["scan"],
                           lambda: _measure_scans(kiosk, returner, readers, rig.shelf_items(2 * scans),
                                                  tmp / "hub.sqlite"),
                           scan_rows(label, bare))
    bench.step("tls_vs_plain", "TLS beside plain TCP: tap → greeting, scan → book, bare RTT (same run)",
               lambda: _tls_vs_plain(bench.raw), tls_vs_plain_rows)


def _tls_vs_plain(raw: dict[str, Any]) -> dict[str, Any]:
    pairs = {
        "tap_event": ("tap_event", "tap_event_plain", None),
        "scan_scanner": ("scan", "scan_plain", "scanner"),
        "scan_event": ("scan", "scan_plain", "event"),
        "bare_rtt": ("bare_rtt", "bare_rtt_plain", None),
    }
    out: dict[str, Any] = {}
    for name, (tls_key, plain_key, way) in pairs.items():
        tls, plain = raw.get(tls_key) or {}, raw.get(plain_key) or {}
        if way is not None:
            tls, plain = tls.get(way) or {}, plain.get(way) or {}
        if "p50_ms" in tls and "p50_ms" in plain:
            out[name] = {"tls": tls, "plain": plain}
    if not out:
        raise RuntimeError("neither pass measured a figure to compare")
    return out


def _backlog_real_hub(endpoint: Any, backlog: int) -> dict[str, Any]:
    from bench import kiosk_e2e as e2e

    try:
        return e2e.measure_backlog_real_hub(endpoint, backlog, timeout_s=120)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the trivial-acker backlog row above is the figure") from None
