"""A hub worker (`python -m hub ...`) as a child process: the one way tests, the bench and
`make run` start one, and the handshake that says it is ready.

Readiness is a message, not a log line: the parent hands the child the write end of a
pipe (its number in the environment variable `HUB_READY_FD`, as systemd hands a service
`NOTIFY_SOCKET`); the worker writes `READY` on it once the broker granted its
subscriptions (`notify_ready`, called by `hub/__main__.py`), then closes it. The parent
sees either `READY`, or the end of the pipe (the child died or closed it without being
ready), or its own deadline; nothing depends on the wording of what the worker prints.
The "hub worker NAME: broker ..." line stays on stdout, for people.

What a caller may rely on:

- `launch_hub_worker` returns at once (several workers start side by side);
  `WorkerProcess.wait_ready` blocks until READY, else raises `WorkerNotReady` naming the
  log file and its tail. `start_hub_worker` is both.
- The child's stdout is read to its end by a thread of the parent (each line kept in
  `lines`, and handed to `echo` when given), so a worker never blocks on a full pipe or
  dies of SIGPIPE when it prints at exit; its stderr goes to `log_path` (appended), or
  to the parent's stderr when there is none.
- `stop()` is idempotent: SIGCONT (a frozen child cannot handle SIGTERM), SIGTERM, then
  SIGKILL after `timeout_s`. `kill()` is SIGKILL: no goodbye to the broker.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path

READY_FD_ENV = "HUB_READY_FD"
READY = b"READY\n"
_REPO = Path(__file__).resolve().parents[2]


class WorkerNotReady(RuntimeError):
    """The worker ended, or did not say READY in time; the message names its log."""


def worker_args(
    broker_url: str, db_url: str, worker: str | None = None, config: Path | str | None = None
) -> list[str]:
    """The `python -m hub` arguments of one worker: `--config`, `--broker`, `--worker`, `--db`."""
    settings = ["--config", str(config)] if config else []
    name = ["--worker", worker] if worker else []
    return [*settings, "--broker", broker_url, *name, "--db", db_url]


class WorkerProcess:
    """A launched `python -m hub` child and its end of the ready pipe."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path | None = None,
        echo: Callable[[str], None] | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.lines: list[str] = []  # the child's stdout, line by line
        self.ready_s: float | None = None  # launch to READY, once ready
        self._echo = echo
        self._ready = False
        self._started = time.perf_counter()
        read_end, write_end = os.pipe()
        child_env = dict(os.environ if env is None else env)
        child_env[READY_FD_ENV] = str(write_end)
        log = log_path.open("a", encoding="utf-8") if log_path is not None else None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", *self.args],
                cwd=cwd or _REPO,
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
                pass_fds=(write_end,),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the child holds its own copy; EOF then means it is gone
            if log is not None:
                log.close()
        self._ready_fd: int | None = read_end
        self._reader = threading.Thread(target=self._read_stdout, name="hub-stdout", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def ready(self) -> bool:
        return self._ready

    def wait_ready(self, timeout_s: float = 60.0) -> WorkerProcess:
        """Block until the worker said READY; `WorkerNotReady` (the child stopped) when it
        ended first or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        got = b""
        while not self._ready:
            fd = self._ready_fd
            if fd is None:
                raise self._not_ready("its ready pipe was closed before it said READY")
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise self._not_ready(f"it did not say READY within {timeout_s:g} s")
            readable, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not readable:
                continue
            chunk = os.read(fd, 64)
            got += chunk
            if got.startswith(READY):
                self._ready = True
                self.ready_s = time.perf_counter() - self._started
            elif not chunk or len(got) >= len(READY):  # the child ended, or wrote something else
                self._close_ready_fd()
                self.stop()
                raise self._not_ready("it ended before it was ready" if not chunk else f"it wrote {got!r}")
        self._close_ready_fd()
        return self

    def send_signal(self, signum: int) -> None:
        if self.running:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: whatever the worker was handling is left unacked at the broker."""
        if self.running:
            self.proc.kill()
        self.proc.wait()
        self._close_ready_fd()

    def stop(self, timeout_s: float = 10.0) -> int:
        """End the worker (SIGTERM, SIGKILL after `timeout_s`); its exit code."""
        if self.running:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        self._close_ready_fd()
        self._reader.join(timeout=2.0)
        return code

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self._echo is not None:
                self._echo(line.rstrip("\n"))

    def _close_ready_fd(self) -> None:
        fd, self._ready_fd = self._ready_fd, None
        if fd is not None:
            os.close(fd)

    def _not_ready(self, why: str) -> WorkerNotReady:
        tail = ""
        if self.log_path is not None and self.log_path.exists():
            tail = "\n" + self.log_path.read_text(errors="replace")[-1500:]
        where = f"; its log: {self.log_path}" if self.log_path is not None else ""
        return WorkerNotReady(f"hub worker {' '.join(self.args)}: {why}{where}{tail}")


def launch_hub_worker(
    args: Sequence[str],
    log_path: Path | None = None,
    echo: Callable[[str], None] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> WorkerProcess:
    """Start `python -m hub ARGS` (see `worker_args`) without waiting for it."""
    return WorkerProcess(args, log_path=log_path, echo=echo, cwd=cwd, env=env)


def start_hub_worker(
    args: Sequence[str],
    log_path: Path | None = None,
    echo: Callable[[str], None] | None = None,
    timeout_s: float = 60.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> WorkerProcess:
    """Start `python -m hub ARGS` and return once it said READY (`WorkerNotReady` else)."""
    return launch_hub_worker(args, log_path, echo, cwd, env).wait_ready(timeout_s)


def notify_ready(environ: MutableMapping[str, str] | None = None) -> bool:
    """The worker's side: write READY on the pipe its parent handed it (`HUB_READY_FD`,
    taken out of `environ`, default `os.environ`, so it is written once and never reaches
    a child of the worker) and close it. False when there is none (started by hand, or
    by systemd) or it is unusable; the worker goes on either way."""
    value = (os.environ if environ is None else environ).pop(READY_FD_ENV, None)
    if not value:
        return False
    try:
        fd = int(value)
        os.write(fd, READY)
        os.close(fd)
    except (ValueError, OSError):
        return False
    return True
