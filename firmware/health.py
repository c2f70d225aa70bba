"""The kiosk's side of its health file: how the root updater (updater.verdict) learns
that a new release came up well, without talking to the kiosk.

`$STATE_DIRECTORY/health.json` (systemd sets `STATE_DIRECTORY` for the unit's
`StateDirectory=`: /var/lib/alliance-kiosk); its fields and format are defined once,
in contract.health_file, for the kiosk that writes it and the updater that reads it.
`version` is the installed distribution's (the release's slot), `ready` turns true with
systemd's READY=1, `selftest_ok` is the result of one self-test of every device run
right after READY (None until it finished), `link_online` is the hub link as the core
sees it.

What a caller may rely on: the file is replaced atomically and fsync'd
(contract.atomic_files), written at start and then only when one of those values
changes (an SD card is not written every few seconds), and never raises into the
kiosk: a write that fails is logged once. With no state directory (a developer's
machine, the simulator, the tests) nothing is written.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from contract import health_file
from contract.health_file import Health

log = logging.getLogger(__name__)

DISTRIBUTION = "alliance-kiosk"


def state_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The kiosk's data directory under systemd (`StateDirectory=`), else None."""
    value = (os.environ if env is None else env).get("STATE_DIRECTORY", "")
    first = value.split(":")[0]
    return Path(first) if first else None


def running_version() -> str:
    """The version of the installed release this process runs from."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


class HealthReporter:
    """Keeps `path` up to date for one kiosk process (see the module doc)."""

    def __init__(
        self,
        path: Path,
        *,
        link_online: Callable[[], bool],
        self_test: Callable[[], list[Any]] | None = None,
        version: str | None = None,
        check_every_s: float = 1.0,
    ) -> None:
        self.path = path
        self._link_online = link_online
        self._self_test = self_test
        self._version = version or running_version()
        self._check_every_s = check_every_s
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._selftest_ok: bool | None = None
        self._selftest_failed: list[str] = []
        self._written: tuple[Any, ...] | None = None
        self._warned = False
        self._thread: threading.Thread | None = None

    def start(self) -> HealthReporter:
        self._write_if_changed()
        self._thread = threading.Thread(target=self._run, name="health-file", daemon=True)
        self._thread.start()
        return self

    def mark_ready(self) -> None:
        self._ready.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._ready.is_set() and self._selftest_ok is None and self._self_test is not None:
                self._run_self_test()
            self._write_if_changed()
            self._stop.wait(self._check_every_s)

    def _run_self_test(self) -> None:
        try:
            results = self._self_test() if self._self_test is not None else []
            failed = [f"{r.device}:{r.code}" for r in results if not r.ok]
        except Exception as exc:  # a self-test that crashes is a failed one
            failed = [f"self-test:{type(exc).__name__}"]
        self._selftest_failed = failed[:10]
        self._selftest_ok = not failed

    def _write_if_changed(self) -> None:
        try:
            online = bool(self._link_online())
        except Exception:
            online = False
        values = (self._ready.is_set(), online, self._selftest_ok, tuple(self._selftest_failed))
        if values == self._written:
            return
        report = Health(
            version=self._version, ready=values[0], link_online=values[1],
            selftest_ok=values[2], selftest_failed=values[3], at=datetime.now(UTC),
            pid=os.getpid(),
        )  # fmt: skip
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            health_file.write(self.path, report)
            self._written = values
        except OSError as exc:
            if not self._warned:
                log.warning("could not write the health file %s: %s", self.path, exc)
                self._warned = True

