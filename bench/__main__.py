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
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Row, ms, p50_p99_rows, ratio, render_table, skipped

RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class Bench:
    """Runs numbered steps; a step that raises becomes a "not measured" row with its reason."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.raw: dict[str, Any] = {}
        self.rows: list[Row] = []
        self.started = time.perf_counter()

    def step(
        self, key: str, title: str, measure: Callable[[], Any], rows: Callable[[Any], list[Row]]
    ) -> Any:
        self.done += 1
        print(f"[{self.done}/{self.total}] {title} ...", flush=True)
        t0 = time.perf_counter()
        try:
            raw = measure()
            self.raw[key] = raw
            self.rows.extend(rows(raw))
            print(f"       done in {time.perf_counter() - t0:.1f} s", flush=True)
            return raw
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}".strip()[:300]
            self.raw[key] = {"error": why, "traceback": traceback.format_exc()[-3000:]}
            self.rows.append(skipped(title, why))
            print(f"       FAILED after {time.perf_counter() - t0:.1f} s: {why}", flush=True)
            return None

    def skip(self, key: str, title: str, why: str) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {title}: skipped ({why})", flush=True)
        self.raw[key] = {"skipped": why}
        self.rows.append(skipped(title, why))


# ---- rows of each measurement -----------------------------------------------------------


def rfid_rows(raw: dict[str, int]) -> list[Row]:
    return [
        Row(
            "RFID: SPI transfers per empty-field poll",
            str(raw["ours"]),
            f"{raw['mfrc522_package']} (mfrc522 package, same emulated chip)",
            ratio(raw["ours"], raw["mfrc522_package"]),
            "lower",
        )
    ]


def device_rows(raw: dict[str, dict[str, float]]) -> list[Row]:
    scan = raw["scan_to_event"]
    rows = [
        Row(
            "scanner: barcode written → BarcodeRead posted (pty) p50",
            f"{scan['p50_ms']:.3f} ms",
            note=f"p99 {scan['p99_ms']:.3f} ms, max {scan['max_ms']:.3f} ms over {scan['scans']:.0f} scans",
        )
    ]
    for key, label in (
        ("chute_configured", "chute: books/hour with no miss (min gap {gap:g} s, as configured)"),
        ("chute_without_min_gap", "chute: books/hour with no miss (no min gap, one book in flight)"),
    ):
        c = raw[key]
        rows.append(
            Row(
                label.format(gap=c["min_gap_s"]),
                f"{c['books_per_hour']:,.0f}",
                f"{c['baseline_books_per_hour']:,.0f} (vendor, fastest stack intake)",
                ratio(c["books_per_hour"], c["baseline_books_per_hour"]),
                "higher",
                f"fastest clean interval {c['fastest_interval_ms']:.0f} ms, rising drop rate, {c['book_ms']:g} ms books",
            )
        )
    return rows


def link_rows(raw: dict[str, Any]) -> list[Row]:
    bare, link, backlog = raw["bare_rtt"], raw["link_rtt"], raw["backlog"]
    rows = p50_p99_rows(
        "hub link request→answer (HubLink, trivial responder, TLS)",
        link,
        bare,
        "bare RTT (TLS)",
        "what HubLink adds to a bare MQTT 5 request/response: the stand-in hub signs, the link verifies",
    )
    rows.append(
        Row(
            f"offline backlog {backlog['n']:,} txns → all acked (trivial acker, TLS)",
            f"{backlog['drain_s']:.2f} s ({backlog['rows_per_s']:,.0f}/s)",
            f"{backlog['bare_qos1_s']:.2f} s bare QoS 1 publish of {backlog['n']:,}",
            ratio(backlog["drain_s"], backlog["bare_qos1_s"]),
            "lower",
            f"journal fsync per ack, each ack signed and verified; {backlog['left_unacked']} left unacked",
        )
    )
    return rows


def hub_rows(raw: dict[str, Any]) -> list[Row]:
    rows = []
    for key, label in (("sqlite", "SQLite WAL, synchronous=FULL"), ("postgresql", "PostgreSQL")):
        figure = f"hub commits/s under a QoS 1 flood ({label}, TLS)"
        got = raw.get(key, {})
        if "skipped" in got or "commits_per_s" not in got:
            rows.append(skipped(figure, got.get("skipped", "not measured")))
            continue
        rows.append(
            Row(
                figure,
                f"{got['commits_per_s']:,.0f}/s",
                f"{got['bare_qos1_per_s']:,.0f}/s broker bare QoS 1",
                ratio(got["commits_per_s"], got["bare_qos1_per_s"]),
                "higher",
                "one in-process hub worker (own certificate, signs each ack), return txns "
                "from an enrolled kiosk published as fast as paho goes",
            )
        )
    return rows


def bare_rtt_rows(raw: dict[str, Any]) -> list[Row]:
    broker = raw.get("broker", "TLS")
    return [
        Row(
            f"bare MQTT 5 request/response RTT ({broker}, the floor)",
            f"p50 {raw['p50_ms']:.2f} ms, p99 {raw['p99_ms']:.2f} ms",
            note=f"n={raw['n']}, QoS 1, TCP_NODELAY both ends, kiosk req → hub resp topics, "
            f"same broker as the kiosk ({broker})",
        )
    ]


def ui_rows(raw: dict[str, float]) -> list[Row]:
    return [
        Row(
            "UI frame time, attract screen animating (SDL offscreen) p50",
            ms(raw["ui_frame_p50_ms"]),
            "16.67 ms (60 Hz frame budget)",
            ratio(raw["ui_frame_p50_ms"], 1000 / 60),
            "lower",
            f"p99 {ms(raw['ui_frame_p99_ms'])}, avg {ms(raw['ui_frame_avg_ms'])}, {raw['ui_frames']:.0f} frames",
        ),
        Row("UI build (KioskApp.build + first view)", ms(raw["ui_build_ms"])),
        Row("UI process RSS", f"{raw['ui_rss_mb']:.1f} MB", note="Kivy + SDL + Mesa llvmpipe in the child"),
    ]


# ---- the run --------------------------------------------------------------------------------


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
    args = parser.parse_args(argv)
    quick = args.quick
    taps, scans, backlog, idle_s = (10, 6, 1_000, 2.0) if quick else (100, 100, 10_000, 10.0)

    log_path = Path(tempfile.gettempdir()) / f"alliance-bench-{os.getpid()}.log"
    logging.basicConfig(filename=log_path, level=logging.WARNING, force=True)

    from bench import catalogue, hub_answers, kiosk_link, rfid, sd_writes
    from bench import hub as hub_bench
    from bench.endpoints import secure_endpoint

    bench = Bench(total=19)
    no_broker = ""
    with ExitStack() as stack:
        try:
            secure = stack.enter_context(secure_endpoint())
        except Exception as exc:
            no_broker = f"the secure broker did not start: {type(exc).__name__}: {exc}"[:300]
            print(no_broker, flush=True)
            secure = None

        bench.step("rfid", "RFID: SPI transfers per empty poll, ours vs mfrc522 package",
                   rfid.measure_empty_poll_transfers, rfid_rows)
        bench.step("devices", "devices: scan → event through the pty; chute books/hour, rising drop rate",
                   _device_figures, device_rows)
        bench.step("sd_writes", "SD card: bytes written per txn (/proc/self/io), journal vs bare SQLite",
                   lambda: sd_writes.measure(100 if quick else 1000), sd_writes.rows)
        bench.step("catalogue", "demo catalogue: generate_items vs building as many records",
                   catalogue.measure, catalogue.rows)
        if secure is None:
            for key in ("kiosk_link", "hub", "hub_answers", "bare_rtt", "tap_physical", "tap_event", "scan",
                        "kiosk_process", "backlog_real_hub", "sip2_checkout", "bare_rtt_plain", "tap_event_plain",
                        "scan_plain", "tls_vs_plain"):
                bench.skip(key, key, no_broker)
        else:
            target = secure
            bench.step("kiosk_link",
                       f"hub link (TLS): request RTT vs bare; backlog of {backlog:,} to a trivial acker",
                       lambda: kiosk_link.run_all(target, backlog), link_rows)
            bench.step("hub", "hub commits/s (TLS) on SQLite and PostgreSQL vs bare QoS 1 msgs/s",
                       lambda: hub_bench.run_all(2000 if not quick else 500, args.postgres, target), hub_rows)
            bench.step("hub_answers", "hub worker: reader lookup handled, and its round trip (TLS), vs floors",
                       lambda: hub_answers.measure(target, 100 if quick else 500), hub_answers.rows)
            run_end_to_end(bench, secure, taps, scans, backlog, idle_s)
            sip2_n = 20 if quick else 100
            bench.step("sip2_checkout",
                       f"checkout through SIP2 (ILS sim) vs the built-in catalogue (TLS), {sip2_n} of each",
                       lambda: _sip2_checkout(target, sip2_n, 3 if quick else 5), sip2_checkout_rows)
            run_plain_comparison(bench, taps, scans)
        bench.step("ui", "UI: Kivy frame time and RSS (child process, offscreen)",
                   lambda: _measure_ui(quick), ui_rows)

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


def sip2_checkout_rows(raw: dict[str, Any]) -> list[Row]:
    from bench import sip2_checkout

    return sip2_checkout.rows(raw)


def _e2e_titles(label: str, taps: int, scans: int) -> dict[str, str]:
    return {
        "bare_rtt": f"bare MQTT request/response round trip, {label} (baseline for tap and scan)",
        "tap_physical": f"card tap → greeting ({label}), {taps} taps through the card reader (poll 0.1 s)",
        "tap_event": f"card tap → greeting ({label}), {taps} CardPresented posted into the runtime",
        "scan": f"scan → book shown with due date ({label}), {2 * scans} books (pty and BarcodeRead)",
    }


def _tap_rows(label: str, bare: Any) -> Callable[[Any], list[Row]]:
    return lambda raw: p50_p99_rows(
        f"card tap → greeting shown, from CardPresented ({label})", raw, bare, f"bare RTT ({label})",
        "core + hub link + broker + hub lookup + view"
        + (" (the answer signed, and verified)" if label == "TLS" else " (nothing signed)"),
    )


def _scan_rows(label: str, bare: Any) -> Callable[[Any], list[Row]]:
    def rows(raw: dict[str, Any]) -> list[Row]:
        journal = raw.get("journal", {})
        exceptions = raw.get("ledger_exceptions", {})
        loans = sum(journal.values())
        bad = {k: v for k, v in journal.items() if k != "acked" and v}
        return [
            *p50_p99_rows(f"scan → book shown loaned with due date, via pty scanner ({label})",
                          raw["scanner"], bare, f"bare RTT ({label})",
                          "pty + driver + checkout_auth at the hub + journal fsync + view"),
            *p50_p99_rows(f"scan → book shown loaned with due date, from BarcodeRead ({label})",
                          raw["event"], bare, f"bare RTT ({label})",
                          "core + hub checkout_auth + journal fsync + view"),
            Row(f"bench loans committed by the hub ({label})",
                f"{journal.get('acked', 0)}/{loans} acked",
                note=("kiosk journal: " + (", ".join(f"{v} {k}" for k, v in bad.items()) or "no exception, none rejected")
                      + "; hub ledger exceptions for the bench kiosks: "
                      + (", ".join(f"{v} {k}" for k, v in exceptions.items()) or "none"))),
        ]

    return rows


def _measure_scans(bk: Any, returner: Any, readers: Any, items: list[str], db: Path) -> dict[str, Any]:
    from bench import kiosk_e2e as e2e

    raw = e2e.measure_scans(bk, returner, readers, items)
    raw["ledger_exceptions"] = e2e.ledger_exceptions(db, [e2e.KIOSK_ID, returner.kiosk_id])
    return raw


def run_end_to_end(bench: Bench, endpoint: Any, taps: int, scans: int, backlog: int, idle_s: float) -> None:
    """The simulated kiosk against the secure broker and a `python -m hub` child."""
    from bench import kiosk_e2e as e2e
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
            hub_proc = stack.enter_context(e2e.running_hub(endpoint, tmp))
            bench.raw["hub_ready_s"] = round(hub_proc.ready_s, 3)
        except Exception as exc:
            for key, title in titles.items():
                if key != "bare_rtt":
                    bench.skip(key, title, f"the hub did not start: {exc}"[:300])
            return

        readers = e2e.demo_readers()
        try:
            identity = endpoint.kiosk_bundle_dir(e2e.KIOSK_ID, e2e.LIBRARY_ID)
            kiosk = e2e.start_kiosk(endpoint.url, tmp / "journal.sqlite3", identity=identity)
            returner = e2e.Returner(endpoint)
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
                    _tap_rows(label, bare),
                )
                bench.step(
                    "scan", titles["scan"],
                    lambda: _measure_scans(kiosk, returner, readers, e2e.shelf_items(2 * scans),
                                           tmp / "hub.sqlite"),
                    _scan_rows(label, bare),
                )
            finally:
                returner.close()
                kiosk.kiosk.stop()
        bench.step("kiosk_process", titles["kiosk_process"],
                   lambda: e2e.measure_kiosk_process(endpoint, idle_s), kiosk_process_rows)
        bench.step("backlog_real_hub", titles["backlog_real_hub"],
                   lambda: _backlog_real_hub(endpoint, backlog), backlog_real_rows)


def run_plain_comparison(bench: Bench, taps: int, scans: int) -> None:
    """Tap → greeting and scan → book again on a plain anonymous broker (no TLS, nothing
    signed, the hub serving any kiosk), then each figure TLS beside plain TCP."""
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
                stack.enter_context(e2e.running_hub(plain, tmp))
                kiosk = e2e.start_kiosk(plain.url, tmp / "journal.sqlite3")
                stack.callback(kiosk.kiosk.stop)
                returner = e2e.Returner(plain)
                stack.callback(returner.close)
            except Exception as exc:
                for key in ("tap_event", "scan"):
                    bench.skip(keys[key], titles[key], f"the plain hub or kiosk did not start: {exc}"[:300])
            else:
                readers = e2e.demo_readers()
                bench.step(keys["tap_event"], titles["tap_event"],
                           lambda: e2e.measure_taps(kiosk, readers, taps, direct=True),
                           _tap_rows(label, bare))
                bench.step(keys["scan"], titles["scan"],
                           lambda: _measure_scans(kiosk, returner, readers, e2e.shelf_items(2 * scans),
                                                  tmp / "hub.sqlite"),
                           _scan_rows(label, bare))
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


def tls_vs_plain_rows(raw: dict[str, Any]) -> list[Row]:
    figures = {
        "tap_event": "tap → greeting, from CardPresented: TLS vs plain TCP",
        "scan_scanner": "scan → book loaned, via pty scanner: TLS vs plain TCP",
        "scan_event": "scan → book loaned, from BarcodeRead: TLS vs plain TCP",
        "bare_rtt": "bare MQTT request/response: TLS vs plain TCP",
    }
    rows: list[Row] = []
    for name, figure in figures.items():
        if name not in raw:
            rows.append(skipped(figure, "one of the two passes did not measure it"))
            continue
        what = ("TLS with client certificates and roles" if name == "bare_rtt"
                else "TLS, client certificates, roles, the hub's answers and acks signed and verified")
        rows += p50_p99_rows(
            figure, raw[name]["tls"], raw[name]["plain"], "plain TCP",
            f"value on the secure setup ({what}), baseline the same figure on a plain anonymous "
            "broker in the same run; ratio = what the secure setup costs",
        )
    return rows


def _backlog_real_hub(endpoint: Any, backlog: int) -> dict[str, Any]:
    from bench import kiosk_e2e as e2e

    try:
        return e2e.measure_backlog_real_hub(endpoint, backlog, timeout_s=120)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the trivial-acker backlog row above is the figure") from None


def kiosk_process_rows(raw: dict[str, float]) -> list[Row]:
    return [
        Row("kiosk RSS (simulated devices, idle, online)", f"{raw['rss_mb']:.1f} MB",
            note=f"peak {raw['peak_rss_mb']:.1f} MB, {raw['threads']} threads; no UI in this process"),
        Row("kiosk idle CPU", f"{raw['idle_cpu_percent']:.2f} % of one core",
            note=f"{raw['idle_cpu_s']:.3f} CPU s over {raw['idle_wall_s']:.1f} s idle on the attract screen"),
        Row("kiosk start → ready (build_kiosk → devices ready, link online)",
            f"{raw['build_to_ready_s'] * 1000:.0f} ms",
            note=f"{raw['exec_to_ready_s']:.2f} s from exec of the process, interpreter and imports included"),
    ]


def backlog_real_rows(raw: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"offline backlog {raw['n']:,} txns → all acked by the real hub ({raw.get('broker', 'TLS')})",
            f"{raw['drain_s']:.2f} s ({raw['rows_per_s']:,.0f}/s)",
            f"{raw['bare_qos1_s']:.2f} s bare QoS 1 publish of {raw['n']:,}",
            ratio(raw["drain_s"], raw["bare_qos1_s"]),
            "lower",
            f"`python -m hub` child (TLS, signed acks verified), SQLite ledger, offline returns of real books; "
            f"{raw['left_unacked']} left unacked",
        )
    ]


if __name__ == "__main__":
    sys.exit(main())
