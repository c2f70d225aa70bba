"""The fleet bench's private alliance: its own CA, its own TLS broker on a free port, one
hub worker process on a SQLite ledger seeded with the demo catalogue, and N enrolled
kiosk identities (each its own EC P-256 certificate), all under one directory.

Built from the product's own pieces (`hub.lab.lab.Lab`, `hub.lab.broker_process`,
`hub.worker.worker_process`), so what the bench measures is what is deployed. The
kiosks are enrolled before the broker starts, so its roles file holds all of them from
its first second (as after `python -m hub broker-config` on a real alliance).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench import proc_stats
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.ledger.ledger_sql import time_text
from hub.pki.kiosk_certs import KioskBundle
from hub.rules.registry import load_registry
from hub.worker.worker_process import WorkerProcess, launch_hub_worker, worker_args

ROOT = Path(__file__).resolve().parents[1]
WORKER = "1"


@dataclass(frozen=True)
class Enrolled:
    bundles: list[KioskBundle]
    seconds: float


class FleetLab:
    """One alliance under `workdir`; `close()` stops what it started (idempotent)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.lab = Lab(self.workdir / "lab")
        self.db_path = self.workdir / "hub.sqlite"
        self.db_url = f"sqlite:///{self.db_path}"
        self.registry = load_registry()
        self.broker: TlsMosquittoProcess | None = None
        self.worker: WorkerProcess | None = None
        self._ledger: Ledger | None = None

    # ---- building it ----

    def enrol(self, kiosk_ids: Sequence[str], libraries: Sequence[str]) -> Enrolled:
        """Each kiosk its own certificate, in one batch (`Lab.kiosks`); timed."""
        self.lab.pki  # noqa: B018 - the CA is made on first use: not the kiosks' cost
        started = time.perf_counter()
        bundles = self.lab.kiosks(kiosk_ids, libraries)
        return Enrolled(bundles, time.perf_counter() - started)

    def seed_ledger(self) -> float:
        """The demo catalogue (63 members' books, demo readers) into a new SQLite ledger."""
        started = time.perf_counter()
        with Ledger.open(self.db_url) as led:
            led.seed_demo(self.registry)
        return time.perf_counter() - started

    def start_broker(self) -> TlsMosquittoProcess:
        if self.broker is None:
            # Its own directory (the mosquitto user must reach it; a TemporaryDirectory is 0700).
            self.broker = self.lab.broker()
        return self.broker.start()

    def start_worker(self, timeout_s: float = 60.0) -> WorkerProcess:
        assert self.broker is not None
        config = self.lab.hub_config(WORKER)
        args = worker_args(self.broker.url, self.db_url, WORKER, config)
        self.worker = launch_hub_worker(args, log_path=self.workdir / "hub-worker.log", cwd=ROOT)
        return self.worker.wait_ready(timeout_s)

    # ---- what it costs ----

    def hub_cpu_s(self) -> float:
        return proc_stats.cpu_seconds(self.worker.pid) if self.worker is not None else 0.0

    def hub_rss_mb(self) -> float:
        return proc_stats.rss_mb(self.worker.pid) if self.worker is not None else 0.0

    def broker_rss_mb(self) -> float:
        pid = self.broker.pid if self.broker is not None else None
        return proc_stats.rss_mb(pid) if pid is not None else 0.0

    def broker_cpu_s(self) -> float:
        pid = self.broker.pid if self.broker is not None else None
        return proc_stats.cpu_seconds(pid) if pid is not None else 0.0

    # ---- what the hub knows ----

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.db_url)
        return self._ledger

    def online_since(self, kiosk_ids: Sequence[str], since: datetime) -> int:
        """How many of `kiosk_ids` the hub's fleet view (`Ledger.fleet`, what `hub
        status` shows) has online, heard from at or after `since`."""
        wanted, stamp = set(kiosk_ids), time_text(since)
        return sum(
            1
            for row in self.ledger.fleet()
            if row.kiosk_id in wanted and row.state == "online" and row.last_seen is not None
            and time_text(row.last_seen) >= stamp
        )  # fmt: skip

    def txn_rows(self) -> int:
        return self.ledger.count("txns")

    def hub_status(self, *extra: str) -> tuple[float, str]:
        """`python -m hub status EXTRA...` against this lab's ledger: (seconds, stdout)."""
        assert self.broker is not None
        config = self.lab.operator_config(self.broker.url, self.db_url)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hub", "status", "--config", str(config), *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"hub status failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        return time.perf_counter() - started, done.stdout

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.lab.close()
        self.broker = None
