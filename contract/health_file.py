"""The kiosk's health file, `health.json` in its state directory: the one definition of
what the kiosk writes (firmware.health) and the root updater reads (updater.verdict) to
judge whether a new release came up well, without talking to the kiosk.

    {"version": "0.1.1", "ready": true, "link_online": true, "selftest_ok": true,
     "selftest_failed": [], "at": "2026-12-07T14:10:00.123456+00:00", "pid": 1234}

`version` is the release's (its slot's name), `ready` turns true with systemd's READY=1,
`selftest_ok` is the result of the one self-test run after READY (null until it
finished), `selftest_failed` names what failed (`device:code`, at most ten),
`link_online` is the hub link as the kiosk's core sees it, `at` when it was written
(with its time zone), `pid` the kiosk process that wrote it.

What a caller may rely on: `Health.parse` returns a `Health` only for exactly this shape
(booleans are booleans, `at` has a time zone, at most `MAX_BYTES`), else raises
`HealthFileError` (a ValueError) saying what is wrong; `write` replaces the file
atomically and durably (contract.atomic_files), readable by the updater (0644).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.atomic_files import write_atomic

HEALTH_FILE = "health.json"
MAX_BYTES = 64 * 1024
MAX_FAILED = 10


class HealthFileError(ValueError):
    """The health file is not what a kiosk writes."""


@dataclass(frozen=True)
class Health:
    """What a running kiosk says of itself (see the module doc)."""

    version: str
    ready: bool
    link_online: bool
    selftest_ok: bool | None  # None: not run yet
    at: datetime
    selftest_failed: tuple[str, ...] = ()
    pid: int | None = None

    def to_json(self) -> str:
        return json.dumps({
            "version": self.version, "ready": self.ready, "link_online": self.link_online,
            "selftest_ok": self.selftest_ok, "selftest_failed": list(self.selftest_failed[:MAX_FAILED]),
            "at": self.at.isoformat(), "pid": self.pid,
        }) + "\n"  # fmt: skip

    @classmethod
    def parse(cls, data: bytes | str) -> Health:
        """The health file's contents as a `Health`, or HealthFileError."""
        if len(data) > MAX_BYTES:
            raise HealthFileError(f"over {MAX_BYTES // 1024} KB: not a health file")
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise HealthFileError(f"not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise HealthFileError("not a JSON object")
        return cls(
            version=_field(raw, "version", str),
            ready=_field(raw, "ready", bool),
            link_online=_field(raw, "link_online", bool),
            selftest_ok=_field(raw, "selftest_ok", bool, optional=True),
            at=_moment(raw.get("at")),
            selftest_failed=_failed(raw.get("selftest_failed", [])),
            pid=_field(raw, "pid", int, optional=True),
        )


def write(path: Path, health: Health) -> None:
    """Replace the health file at `path` (atomically, fsync'd; mode 0644)."""
    write_atomic(path, health.to_json(), 0o644)


def _field(raw: dict[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    value = raw.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HealthFileError(f"{name} is {value!r}, not a {kind.__name__}")
    return value


def _moment(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise HealthFileError(f"at is {value!r}, not a time with its time zone")
    return at


def _failed(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise HealthFileError("selftest_failed is not a list of names")
    return tuple(f[:64] for f in value[:MAX_FAILED])
