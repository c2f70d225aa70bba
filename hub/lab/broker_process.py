"""A private Mosquitto broker in a temporary directory, for tests, benchmarks and demos.

Tests must be able to stop and restart the broker, so they never use the machine's own
broker: each one gets a `mosquitto` process on a free loopback port. TCP_NODELAY is on
(see docs/mqtt-contract.md: without it a QoS 1 round trip costs ~88 ms of Nagle/delayed-ACK waits).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hub.pki.broker_admin import BrokerAdmin, port_answers


class BrokerUnavailable(RuntimeError):
    """Mosquitto is not installed or would not start; the message says which."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerUnavailable("mosquitto is not installed (run `make setup`, or apt-get install mosquitto)")


@dataclass
class MosquittoProcess:
    """One mosquitto on 127.0.0.1:port; `stop()` and `start()` again keep the same port."""

    port: int = 0
    workdir: Path | None = None
    persistence: bool = True
    # The broker's soft limit of open files (one per connection); None: this process's.
    open_files: int | None = None
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _own_dir: tempfile.TemporaryDirectory | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()
        if self.workdir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="mosquitto-")
            self.workdir = Path(self._own_dir.name)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        assert self.workdir is not None
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
        ]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/"]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        if self.running:
            return self
        conf = self._write_config()
        # Running as root, mosquitto drops to the `mosquitto` user: let it write its files.
        shutil.chown(self.workdir, user="mosquitto") if _user_exists("mosquitto") else None
        self._proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_open_files_limit(self.open_files),  # setrlimit only: nothing that takes a lock
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerUnavailable(f"mosquitto exited at start: {err.strip()}")
            if port_answers("127.0.0.1", self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"mosquitto did not listen on port {self.port} within {timeout}s")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The running broker's process id (for what it costs: bench/proc_stats.py)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def stop(self) -> None:
        """Stop the broker (idempotent); clients see their connection drop."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def reload(self) -> None:
        """SIGHUP the broker: it reads its configuration again, the CRL and ACL included.
        Clients stay connected; a revoked one is refused at its next connect."""
        if not self.running:
            raise BrokerUnavailable("mosquitto is not running; nothing to reload")
        assert self._proc is not None
        self._proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """SIGKILL the broker (idempotent): it saves nothing, so it comes back with what it
        last saved (at its last clean stop), sessions and queued messages included."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def close(self) -> None:
        self.stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> MosquittoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class TlsMosquittoProcess(MosquittoProcess):
    """The alliance's secure broker (`hub.pki.broker_config`) from the PKI in `pki`, on
    127.0.0.1:port in `workdir`: TLS only, client certificates, the roles, the CRL.

    `start()` writes the configuration again each time, so a CRL revoked since is in
    force; `refresh_crl()` then `reload()` does the same to a running broker."""

    pki: Path | None = None

    def __post_init__(self) -> None:
        if self.open_files is None:  # as deployed: alliance-broker.service's LimitNOFILE
            from hub.pki.broker_config import BROKER_OPEN_FILES

            self.open_files = BROKER_OPEN_FILES
        if self.pki is None:
            raise ValueError("TlsMosquittoProcess needs pki= (a directory made by hub.pki.pki.init_pki)")
        super().__post_init__()

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        from hub.pki.broker_config import write_broker_config

        assert self.workdir is not None and self.pki is not None
        return write_broker_config(self.workdir, self.pki, port=self.port).conf

    def log_text(self) -> str:
        """What the broker has logged so far (notices included)."""
        assert self.workdir is not None
        log = self.workdir / "mosquitto.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def admit(self, kiosk_id: str) -> None:
        """Tell the running broker about kiosk `kiosk_id`, enrolled since it started."""
        with self._admin() as admin:
            admin.admit_kiosk(kiosk_id)

    def admit_all(self, kiosk_ids: list[str]) -> None:
        """`admit` for many kiosks, over one admin connection."""
        with self._admin() as admin:
            for kiosk_id in kiosk_ids:
                admin.admit_kiosk(kiosk_id)

    def expel(self, kiosk_id: str) -> None:
        """Take kiosk `kiosk_id`'s rights away and disconnect it now (after `revoke`)."""
        with self._admin() as admin:
            admin.expel_kiosk(kiosk_id)

    def admit_hub_worker(self, name: str) -> None:
        """Give hub identity `name` (`hub-WORKER`) the hub's role on the running broker."""
        with self._admin() as admin:
            admin.admit_hub_worker(name)

    def _admin(self) -> BrokerAdmin:
        from hub.pki.pki import hub_admin_identity

        assert self.pki is not None
        return BrokerAdmin(self.url, hub_admin_identity(self.pki))

    def refresh_crl(self) -> None:
        """Copy the PKI's current CRL to the broker's directory (then `reload()`)."""
        from hub.pki.broker_config import refresh_crl

        assert self.workdir is not None and self.pki is not None
        refresh_crl(self.workdir, self.pki)


def _open_files_limit(limit: int | None) -> Callable[[], None] | None:
    """For Popen's preexec_fn: the child's soft RLIMIT_NOFILE set to `limit` (at most the
    hard limit), as systemd's LimitNOFILE sets it for the deployed broker."""
    if limit is None:
        return None

    def set_limit() -> None:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return set_limit


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
