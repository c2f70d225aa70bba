"""Bytes written to storage per transaction: the kiosk's journal vs the floor.

On a Pi the journal lives on the SD card, and an SD card wears by the bytes written to
it, not by the rows. This counts what the kernel charges this process for
(`/proc/self/io` `write_bytes`: bytes sent towards the block device, page-sized) while
the kiosk's journal records N txns, one fsync'd commit each (what `RecordTxn` does),
and while the hub link marks them sent and acked. The baselines, measured in the same
run on the same file system: a bare SQLite table taking the same JSON payload with the
same durability (WAL, `synchronous=FULL`, one commit per row), and a bare append +
fsync of the payload to a flat file (the least any durable record can cost).

`write_bytes` is 0 on tmpfs and in some containers. There the figures fall back to
`wchar`, the bytes this process handed to write() and pwrite() (counted on any file
system, before page rounding and the file system's own journal), and say so, rather
than claiming a 0-byte journal.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.messages import Ack, CardRef, Txn
from firmware.journal import Journal
from firmware.txn_ids import TxnIdFactory

PROC_IO = Path("/proc/self/io")
COUNTERS = ("write_bytes", "wchar")  # towards the block device; handed to write()


def io_counters() -> dict[str, int] | None:
    """This process's `write_bytes` and `wchar` so far, or None where the kernel does not say."""
    try:
        fields = dict(line.split(":", 1) for line in PROC_IO.read_text().splitlines() if ":" in line)
        return {name: int(fields[name]) for name in COUNTERS}
    except (OSError, KeyError, ValueError):
        return None


def _txns(n: int) -> list[Txn]:
    ids = TxnIdFactory("bench-k1", None)
    return [
        Txn(
            txn_id=ids.next_id(),
            kiosk_id="bench-k1",
            library_id="dongcheng",
            kind="loan",
            card=CardRef(scheme="joint", number=f"0110{i:09d}"),
            item=f"3010{i:09d}",
            at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            mode="online",
        )
        for i in range(n)
    ]


def _measure(work: Callable[[], None]) -> dict[str, int]:
    before = io_counters()
    work()
    after = io_counters()
    assert before is not None and after is not None
    return {name: after[name] - before[name] for name in COUNTERS}


def measure(n: int = 500, directory: Path | None = None, counter: str | None = None) -> dict[str, Any]:
    """Bytes per txn for the journal (record; sent + acked) and the two baselines, by
    `counter` (`write_bytes` or `wchar`); by default `write_bytes` where the file system
    counts it, else `wchar`."""
    if io_counters() is None:
        raise RuntimeError("/proc/self/io is not readable here")
    if counter not in (None, *COUNTERS):
        raise ValueError(f"counter must be one of {COUNTERS}, not {counter!r}")
    base = Path(directory) if directory else Path.cwd() / "var" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    txns = _txns(n)
    payloads = [t.model_dump_json().encode() for t in txns]
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp)
        journal = Journal.open(root / "journal.sqlite3")
        try:
            def record_all() -> None:
                for t in txns:
                    journal.record(t)

            record = _measure(record_all)

            def lifecycle() -> None:
                for t in txns:
                    journal.mark_sent([t.txn_id])
                journal.mark_acked_many(Ack(txn_id=t.txn_id, result="committed") for t in txns)

            after_send = _measure(lifecycle)
        finally:
            journal.close()

        conn = sqlite3.connect(root / "bare.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")

        def bare_sqlite() -> None:
            for payload in payloads:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
                conn.execute("COMMIT")

        sqlite_bytes = _measure(bare_sqlite)
        conn.close()

        def bare_append() -> None:
            fd = os.open(root / "bare.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                for payload in payloads:
                    os.write(fd, payload + b"\n")
                    os.fsync(fd)
            finally:
                os.close(fd)

        append_bytes = _measure(bare_append)
    block_counted = record["write_bytes"] > 0
    used = counter or ("write_bytes" if block_counted else "wchar")
    return {
        "n": n,
        "payload_bytes": round(sum(map(len, payloads)) / n),
        "journal_record_per_txn": record[used] / n,
        "journal_sent_acked_per_txn": after_send[used] / n,
        "bare_sqlite_per_txn": sqlite_bytes[used] / n,
        "bare_append_fsync_per_txn": append_bytes[used] / n,
        "filesystem": str(base),
        "counter": used,
        "block_counted": block_counted,
    }


def rows(raw: dict[str, Any]) -> list[Any]:
    """Table rows: the journal's bytes per txn against the bare SQLite insert and the
    bare append, both with an fsync per row."""
    from bench.report import Row, ratio

    def kb(value: float) -> str:
        return f"{value / 1024:.1f} KiB"

    bare = raw["bare_sqlite_per_txn"]
    if raw["counter"] == "write_bytes":
        how = "/proc/self/io write_bytes"
    elif raw["block_counted"]:
        how = "/proc/self/io wchar (bytes handed to write())"
    else:
        how = (
            f"/proc/self/io wchar (bytes handed to write(); write_bytes stays 0 on "
            f"{raw['filesystem']}: tmpfs or a container)"
        )
    note = f"{raw['n']} txns, payload {raw['payload_bytes']} B, {how}"
    return [
        Row("SD card: journal bytes written per txn (record, fsync'd)",
            kb(raw["journal_record_per_txn"]), f"{kb(bare)} (bare SQLite insert, WAL, FULL)",
            ratio(raw["journal_record_per_txn"], bare), "lower", note),
        Row("SD card: journal bytes per txn for sent + acked",
            kb(raw["journal_sent_acked_per_txn"]), f"{kb(bare)} (bare SQLite insert)",
            ratio(raw["journal_sent_acked_per_txn"], bare), "lower"),
        Row("SD card: floor, append + fsync of the payload",
            kb(raw["bare_append_fsync_per_txn"]), "—", None, "lower"),
    ]
