"""The fleet bench's kiosks spread over a few processes ("hosts"), at most
`KIOSKS_PER_HOST` kiosks each, driven from the bench process over a pipe.

Why not one process: paho-mqtt waits on its socket with `select()`, which cannot watch
a file descriptor numbered 1024 or above. A kiosk link holds about seven (its socket,
paho's wake-up pair, the journal's SQLite files), so one process holds about 140 links
before the next one's socket is out of `select()`'s range: it connects, then paho drops
it at once (the broker logs "Protocol error"); measured at 139 of 200. A kiosk runs
one link per process, so this is the bench's limit, not the kiosk's; 100 per process
keeps well clear of it (docs/ordering.md, "A fleet of 1,000").

The hosts run at `HOST_NICENESS`: in the field every kiosk has a CPU of its own, here
1,000 share the bench machine's cores with the hub worker and the broker, which are
what is measured; unniced, 2,000 link threads starved them (load average 180 on two
cores, the hub worker silent for its 45 s keepalive, the broker dropping kiosks that
missed theirs), which says nothing about the hub.

`Fleet` is the bench's handle on all hosts: each call is sent to every host first and
the answers collected after, so the hosts work side by side. Kiosk 0 (on host 0) is
the tap kiosk: `others` means every kiosk but it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import proc_stats
from hub.pki.kiosk_certs import KioskBundle

KIOSKS_PER_HOST = 100
HOST_NICENESS = 10


def host_main(conn: Connection, bundles: list[KioskBundle], first_index: int, workdir: Path, hub_pub: Path) -> None:
    """The child: its kiosks, then one command at a time from `conn` until "close"."""
    import logging

    from bench.fleet_kiosks import FleetKiosk, ReaderTap, in_parallel
    from contract import messages, signing

    logging.basicConfig(level=logging.ERROR)  # links going down and up is the bench's point
    os.nice(HOST_NICENESS)
    key = signing.load_public_key(hub_pub)
    kiosks = [FleetKiosk(b, workdir, key) for b in bundles]
    indexed = list(enumerate(kiosks, start=first_index))
    tap: ReaderTap | None = None

    def chosen(which: str) -> list[FleetKiosk]:
        """"all", "others" (all but the tap kiosk) or "tap" (kiosk 0 alone)."""
        return [k for i, k in indexed if which == "all" or (i != 0) == (which == "others")]

    while True:
        command, *args = conn.recv()
        reply: Any = None
        if command == "connect":
            url, telemetry_s, which = args
            for k in chosen(which):
                k.connect(url, telemetry_s)
        elif command == "offline":
            in_parallel(FleetKiosk.go_offline, chosen(args[0]))
        elif command == "record":
            books, per_kiosk, first_at, apart_s, which = args
            for i, k in indexed:
                if k in chosen(which):
                    shelf = books[k.library_id]
                    mine = [shelf[(i * per_kiosk + j) % len(shelf)] for j in range(per_kiosk)]
                    k.record_returns(mine, first_at, timedelta(seconds=apart_s))
        elif command == "status":
            reply = (sum(k.connected for k in kiosks), sum(k.unacked() for k in kiosks))
        elif command == "tap_start":
            scheme, number, every_s = args
            tap = ReaderTap(kiosks[0], messages.CardRef(scheme=scheme, number=number), every_s).start()
        elif command == "tap_stop":
            assert tap is not None
            tap.stop()
            reply, tap = (tap.times_ms, tap.failed), None
        elif command == "stats":
            pid = os.getpid()
            reply = (proc_stats.threads(pid), proc_stats.rss_mb(pid), proc_stats.open_fds(pid))
        elif command == "close":
            in_parallel(FleetKiosk.close, kiosks)
            reply = [(k.recorded, k.acked, k.duplicate_acks) for k in kiosks]
            conn.send(reply)
            return
        conn.send(reply)


class Fleet:
    """All the hosts; kiosk order is `bundles` order."""

    def __init__(self, bundles: Sequence[KioskBundle], workdir: Path, hub_pub: Path) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        workdir.mkdir(parents=True, exist_ok=True)
        for first in range(0, len(bundles), KIOSKS_PER_HOST):
            ours, theirs = context.Pipe()
            chunk = list(bundles[first : first + KIOSKS_PER_HOST])
            proc = context.Process(target=host_main, args=(theirs, chunk, first, workdir, hub_pub), daemon=True)
            proc.start()
            theirs.close()
            self._conns.append(ours)
            self._procs.append(proc)

    @property
    def hosts(self) -> int:
        return len(self._procs)

    def _all(self, *command: Any) -> list[Any]:
        for conn in self._conns:
            conn.send(command)
        return [conn.recv() for conn in self._conns]

    def connect(self, url: str, telemetry_s: float, which: str = "all") -> None:
        """Start the links of "all", "others" or the "tap" kiosk alone (host 0's)."""
        if which == "tap":
            self._conns[0].send(("connect", url, telemetry_s, which))
            self._conns[0].recv()
        else:
            self._all("connect", url, telemetry_s, which)

    def go_offline(self, which: str = "others") -> None:
        self._all("offline", which)

    def record_returns(self, books: dict[str, list[str]], per_kiosk: int, first_at: datetime, apart_s: float,
                       which: str = "others") -> None:  # fmt: skip
        self._all("record", books, per_kiosk, first_at, apart_s, which)

    def status(self) -> tuple[int, int]:
        """(links up, txns journalled and not acked) over the whole fleet."""
        answers = self._all("status")
        return sum(a[0] for a in answers), sum(a[1] for a in answers)

    def tap_start(self, scheme: str, number: str, every_s: float = 0.1) -> None:
        self._conns[0].send(("tap_start", scheme, number, every_s))
        self._conns[0].recv()

    def tap_stop(self) -> tuple[list[float], int]:
        self._conns[0].send(("tap_stop",))
        return self._conns[0].recv()

    def stats(self) -> list[tuple[int, float, int]]:
        """(threads, RSS MiB, open fds) of each host."""
        return self._all("stats")

    def close(self) -> list[tuple[list[str], dict[str, str], int]]:
        """Stop every link; each kiosk's (txn ids journalled, acks by txn id, duplicate acks)."""
        results: list[tuple[list[str], dict[str, str], int]] = []
        for answer in self._all("close"):
            results.extend(answer)
        for proc in self._procs:
            proc.join(10)
        return results
