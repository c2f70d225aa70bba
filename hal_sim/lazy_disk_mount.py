"""Mount, power-cut and remount a `hal_sim.lazy_disk` from a test.

Why a child process: the power cut is SIGKILL of the process that holds the unsynced
writes, so nothing of it can survive in the caller. `LazyDisk` starts the filesystem,
waits until the kernel has the mount, cuts the power, detaches the dead mount and mounts
the same backing directory again, as a rebooted kiosk would find its card.

What a caller may rely on: after `start()` returns, `mountpoint` is served; after
`power_cut()` returns, nothing is mounted there and `backing` holds exactly what was
synced; `close()` is idempotent and leaves nothing mounted. `LazyDiskUnavailable` says
why the machine cannot mount one (no /dev/fuse, no libfuse 3, no permission).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


class LazyDiskUnavailable(RuntimeError):
    """This machine cannot mount a FUSE filesystem; the message says what is missing."""


class LazyDisk:
    """One `hal_sim.lazy_disk` on `backing`, mounted at `mountpoint`."""

    def __init__(self, backing: Path, mountpoint: Path, log: Path) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> LazyDisk:
        """Mount and wait until the filesystem says READY (its `init` ran)."""
        if not os.path.exists("/dev/fuse"):
            raise LazyDiskUnavailable("no /dev/fuse on this machine")
        if shutil.which("fusermount3") is None:
            raise LazyDiskUnavailable("fusermount3 not found: install Debian's fuse3")
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hal_sim.lazy_disk",
                    str(self.backing),
                    str(self.mountpoint),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        out = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        said = b""
        while b"READY" not in said:
            if select.select([out], [], [], 0.05)[0]:
                said += os.read(out, 64)
            if self.proc.poll() is not None:
                self.proc = None
                raise LazyDiskUnavailable(f"the lazy disk did not mount: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise LazyDiskUnavailable(f"the lazy disk did not mount in {timeout_s}s")
        return self

    def power_cut(self) -> None:
        """Lose every write not yet synced: SIGKILL the filesystem, detach its mount."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None
        self._detach()

    def remount(self) -> LazyDisk:
        """The power comes back: mount what the backing directory kept."""
        return self.start()

    def close(self) -> None:
        """Unmount (syncing nothing more) and stop the filesystem."""
        self.power_cut()

    def _detach(self) -> None:
        # Not os.path.ismount: a mount whose filesystem died answers ENOTCONN to stat.
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            mounted = any(line.split()[1] == str(self.mountpoint) for line in mounts)
        if mounted:
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.mountpoint)], check=False, capture_output=True
            )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8")[-600:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    def __enter__(self) -> LazyDisk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
