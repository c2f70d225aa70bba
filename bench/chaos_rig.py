"""The chaos soak's alliance on one machine, every part a real process that can be killed:
the lab's TLS broker (`hub.lab.lab`), N `python -m hub --worker wK` processes on one
ledger (SQLite, or PostgreSQL on a private cluster with `postgres=True`), Dongcheng's
own library system (`python -m ils_sim` over TLS, SIP2 in GB18030, as the e2e SIP2 tests
configure it with `demo_sip2_tables`), and six enrolled kiosks, each a child process
behind its own cuttable route (bench.chaos_kiosk).

What a caller may rely on: `Rig.start()` returns once every worker said READY and every
kiosk booted; each fault method does the real thing to the real process (SIGKILL,
black hole) and says what it did in one line; `close()` ends everything it started,
idempotently, and keeps the logs where `logs()` names them until the work directory goes;
a PostgreSQL ledger stays up until `close_database()`, so the verdict can read it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos_kiosk import ChaosKiosk
from bench.soak_order import LIBRARIES, ROOT, SOAK_HUB, Worker, seed_ledger
from hub.lab.broker_process import TlsMosquittoProcess, free_port
from hub.lab.lab import Lab, demo_sip2_tables
from hub.lab.postgres_process import PostgresCluster
from hub.rules.registry import load_registry

ILS_DATA = ROOT / "ils_sim" / "data" / "dongcheng.toml"
ILS_PASSWORD = "east-sip2-demo"  # the simulator's [login] password (ils_sim/data/dongcheng.toml)


@dataclass
class IlsProcess:
    """`python -m ils_sim` for Dongcheng on a fixed port, its state and journal kept in
    `workdir` across restarts (a member's system that crashes and comes back)."""

    workdir: Path
    cert: Path
    key: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "ils.log"

    @property
    def state_file(self) -> Path:
        """Its circulation state (ils_sim.circulation.save_state), kept across restarts."""
        return self.workdir / "ils-state.json"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:  # the old process's port may linger a moment after a SIGKILL
            log = self.log.open("a", encoding="utf-8")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ils_sim", "--port", str(self.port), "--data", str(ILS_DATA),
                 "--encoding", "gb18030", "--journal", str(self.workdir / "ils.jsonl"),
                 "--state", str(self.state_file),
                 "--tls-cert", str(self.cert), "--tls-key", str(self.key)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
            log.close()
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if "listening on" in line:
                return
            self.proc.wait(5)
            if time.monotonic() > deadline:
                raise RuntimeError(f"ils_sim did not start: {line!r}; its log: {self.log}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


class Rig:
    """Everything the chaos soak runs, in `workdir`."""

    def __init__(self, workdir: Path, n_workers: int, postgres: bool = False) -> None:
        self.workdir = workdir
        self.lab = Lab(workdir / "lab")
        self.postgres: PostgresCluster | None = None
        if postgres:
            self.postgres = PostgresCluster(database="chaos")
        self.db_url = f"sqlite:///{workdir / 'hub.sqlite'}"
        self.names = [f"w{i}" for i in range(1, n_workers + 1)]
        self.broker: TlsMosquittoProcess | None = None
        self.workers: list[Worker] = []
        self.kiosks: list[ChaosKiosk] = []
        ils_identity = self.lab.ils_server("east")
        (workdir / "ils").mkdir()
        self.ils = IlsProcess(workdir / "ils", ils_identity.cert, ils_identity.key)
        self._ils_ca = ils_identity.ca
        self._closed = False

    def start(self) -> None:
        if self.postgres is not None:
            self.postgres.start()
            self.db_url = self.postgres.url
        seed_ledger(self.db_url, load_registry())  # before any worker starts
        self.ils.start()
        password = self.workdir / "east.pw"
        password.write_text(ILS_PASSWORD + "\n")
        password.chmod(0o600)
        tables = demo_sip2_tables(self.ils.port, password, self._ils_ca)
        configs = {name: self.lab.hub_config(name, tables=tables, **SOAK_HUB) for name in self.names}
        bundles = {}
        for i, library in enumerate(LIBRARIES):  # every identity issued before the broker writes its roles
            bundles[f"chaos-k{i}"] = self.lab.kiosk(f"chaos-k{i}", library).cert.parent
        self.broker = self.lab.broker().start()
        self.workers = [
            Worker(name, self.broker.url, self.db_url, self.workdir / f"{name}.log", configs[name])
            for name in self.names
        ]
        for w in self.workers:
            w.launch()
        for w in self.workers:
            w.wait_ready()
        self.kiosks = [
            ChaosKiosk(kiosk_id, library, self.broker.url, self.workdir, bundles[kiosk_id])
            for kiosk_id, library in zip(bundles, LIBRARIES, strict=True)
        ]
        for k in self.kiosks:
            k.boot()

    def logs(self) -> dict[str, Path]:
        """Every log the alliance wrote in this run: name -> file."""
        found = {w.name: w.log for w in self.workers}
        found |= {k.kiosk_id: k.log for k in self.kiosks}
        if self.broker is not None and self.broker.workdir is not None:
            found["broker"] = self.broker.workdir / "mosquitto.log"
        return {name: path for name, path in found.items() if path.exists()}

    def close(self) -> dict[str, int | None]:
        """Stop everything but the database (idempotent); each worker's exit code (None:
        it was not running; empty after the first call)."""
        codes: dict[str, int | None] = {}
        if self._closed:
            return codes
        self._closed = True
        with ThreadPoolExecutor(max_workers=len(self.kiosks) or 1) as pool:  # each says "offline" in turn otherwise
            list(pool.map(ChaosKiosk.close, self.kiosks))
        for w in self.workers:
            alive = w.child is not None and w.child.running
            codes[w.name] = w.child.stop() if alive and w.child is not None else None
        self.ils.stop()
        if self.broker is not None:
            self.broker.close()
        self.lab.close()
        return codes

    def close_database(self) -> None:
        """Stop the private PostgreSQL cluster (after the verdict has read the ledger)."""
        if self.postgres is not None:
            self.postgres.close()

