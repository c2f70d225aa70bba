"""How each measurement's raw figures become rows of the bench's table: the value, its
same-run baseline, their ratio and what the figure includes (bench.report draws them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.report import Row, ms, p50_p99_rows, ratio, skipped


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


def sip2_checkout_rows(raw: dict[str, Any]) -> list[Row]:
    from bench import sip2_checkout

    return sip2_checkout.rows(raw)


def tap_rows(label: str, bare: Any) -> Callable[[Any], list[Row]]:
    return lambda raw: p50_p99_rows(
        f"card tap → greeting shown, from CardPresented ({label})", raw, bare, f"bare RTT ({label})",
        "core + hub link + broker + hub lookup + view"
        + (" (the answer signed, and verified)" if label == "TLS" else " (nothing signed)"),
    )


def scan_rows(label: str, bare: Any) -> Callable[[Any], list[Row]]:
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
