"""A private PostgreSQL cluster in a temporary directory, for tests and benchmarks.

The hub's PostgreSQL ledger must be tested on every machine, not only where a server
happens to run on 5432: where none answers, the tests start one of their own, as they
start their own Mosquitto. `initdb` makes a cluster in a fresh directory, `pg_ctl`
runs it on a free loopback port (its Unix socket in the same directory, so it never
meets the machine's server), and `close()` stops it and deletes the directory.

PostgreSQL refuses to run as root: as root, the cluster's directory is handed to an
unprivileged user (`postgres` if it exists, else `nobody`) and the server runs as that
user. The superuser inside the cluster is always `postgres`, trusted on loopback only.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hub.lab.broker_process import free_port
from hub.pki.broker_admin import port_answers

PG_LIB = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<major>/bin


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or the cluster would not start; the message says which."""


def find_bindir() -> Path:
    """The directory of `initdb` and `pg_ctl`: on PATH, else Debian's newest major."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # Debian links /usr/local/bin/initdb into its bin
    majors = sorted(
        (p for p in PG_LIB.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
    )
    if majors:
        return majors[-1]
    raise PostgresUnavailable(
        "PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql "
        "(run `make setup`, or apt-get install postgresql)"
    )


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, who PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root, and neither a `postgres` nor a `nobody` user exists")


@dataclass
class PostgresCluster:
    """One private cluster on 127.0.0.1:port with an empty database `database`."""

    database: str = "test"
    port: int = 0
    _dir: Path | None = field(default=None, init=False, repr=False)
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        assert self._dir is not None, "start() the cluster first"
        return self._dir / "data"

    def _run(self, *args: str, timeout: float = 60) -> None:
        user = self._user
        proc = subprocess.run(
            args,
            cwd=self._dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )
        if proc.returncode != 0:
            log = self._dir / "server.log" if self._dir else None
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            said = proc.stderr.strip() or proc.stdout.strip()
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed ({proc.returncode}): {said}"
                + (f"\nserver log:\n{tail}" if tail else "")
            )

    def start(self, timeout: float = 60.0) -> PostgresCluster:
        """initdb, start, create the database; raises PostgresUnavailable with the reason."""
        bindir = find_bindir()
        self._user = _server_user()
        # Under /tmp (world-traversable) rather than pytest's 0700 base, for the server's user.
        self._dir = Path(tempfile.mkdtemp(prefix="alliance-pg-"))
        try:
            if self._user:
                os.chown(self._dir, self._user.pw_uid, self._user.pw_gid)
            # --no-sync: initdb's own files need no fsync in a cluster thrown away after.
            self._run(
                str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            self.port = self.port or free_port()
            # Small: two of these (one per xdist worker) share a busy machine.
            self._serve(bindir, timeout)
            self._create_database(bindir)
        except BaseException:
            self.close()
            raise
        return self

    def _serve(self, bindir: Path, timeout: float) -> None:
        assert self._dir is not None
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._dir} "
            "-c max_connections=60 -c shared_buffers=16MB"
        )
        self._run(
            str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self._dir / "server.log"),
            "-o", options, "-w", "-t", str(int(timeout)), "start",
        )  # fmt: skip
        if not port_answers("127.0.0.1", self.port):
            raise PostgresUnavailable(f"the cluster started but does not answer on port {self.port}")

    def crash(self) -> None:
        """Stop the server as a crash would (`pg_ctl stop -m immediate`: no checkpoint, every
        client cut off); `restart()` brings it back on the same port and data, recovering
        from its WAL. For the chaos soak (bench/chaos.py)."""
        self._run(str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def restart(self, timeout: float = 60.0) -> None:
        """Start the server again after `crash()`, on the same port and data directory."""
        self._serve(find_bindir(), timeout)

    def _create_database(self, bindir: Path) -> None:
        self._run(
            str(bindir / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{self.database}"',
        )  # fmt: skip

    @property
    def running(self) -> bool:
        return self._dir is not None and (self.data_dir / "postmaster.pid").exists()

    def close(self) -> None:
        """Stop the server (fast: clients are disconnected) and delete its directory; idempotent."""
        if self._dir is None:
            return
        try:
            if self.running:
                pg_ctl = str(find_bindir() / "pg_ctl")
                self._run(pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

