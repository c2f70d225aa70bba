"""Mount, power-cut and remount a `hal_sim.lazy_disk` from a test.

Why a child process: the power cut is SIGKILL of the process that holds the unsynced
writes, so nothing of it can survive in the caller. `LazyDisk` starts the filesystem,
waits until the kernel has the mount, cuts the power, detaches the dead mount and mounts
the same backing directory again, as a rebooted kiosk would find its card.

What a caller may rely on: after `start()` returns, `mountpoint` is served; after
`hold_syncs()` returns, no fsync completes until `release_syncs()` (and
`wait_for_held_sync` says when one is waiting); after `power_cut()` returns, nothing is
mounted there and `backing` holds exactly what was synced; `close()` is idempotent and leaves nothing mounted. `LazyDiskUnavailable` says
why the machine cannot mount one (no /dev/fuse, no libfuse 3, no permission).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
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
        self.proc: subprocess.Popen[str] | None = None
        self._said: queue.Queue[str | None] = queue.Queue()

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
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        self._said = queue.Queue()
        threading.Thread(target=self._listen, args=(self.proc,), daemon=True).start()
        if self._next_said("READY", timeout_s) is None:
            self.close()
            raise LazyDiskUnavailable(f"the lazy disk did not mount: {self._log_tail()}")
        return self

    def hold_syncs(self, timeout_s: float = 5.0) -> None:
        """From now on every fsync is taken and held (it neither syncs nor returns)
        until `release_syncs` or the power cut."""
        self._tell("hold", "HOLDING", timeout_s)

    def release_syncs(self, timeout_s: float = 5.0) -> None:
        self._tell("release", "RELEASED", timeout_s)

    def wait_for_held_sync(self, timeout_s: float) -> str | None:
        """The path (in the mount) of the next fsync being held, None if none came."""
        said = self._next_said("HELD ", timeout_s)
        return None if said is None else said.removeprefix("HELD ")

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

    def _tell(self, command: str, answer: str, timeout_s: float) -> None:
        assert self.proc is not None and self.proc.stdin is not None, "not mounted"
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        if self._next_said(answer, timeout_s) is None:
            raise LazyDiskUnavailable(f"the lazy disk did not answer {command!r}")

    def _listen(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._said.put(line.strip())
        self._said.put(None)  # the filesystem ended

    def _next_said(self, prefix: str, timeout_s: float) -> str | None:
        """The next line the filesystem said that starts with `prefix` (others are
        dropped), None when it ended or `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._said.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if line.startswith(prefix):
                return line
        return None

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
