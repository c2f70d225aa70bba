"""The outcome every updater run ends in, kept in `last-update.json` (which the kiosk
reports to the hub in its telemetry: contract.messages.UpdateReport is its shape).

What a caller may rely on: `record_result` replaces the file atomically and durably
(contract.atomic_files), readable by the kiosk (0644); the outcome is one of `ok`,
`rolled_back`, `refused` (nothing was changed) or `failed`, with a reason a technician
can read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from contract.atomic_files import write_atomic
from updater.layout import Layout

Outcome = Literal["ok", "rolled_back", "refused", "failed"]
Progress = Callable[[str], None]  # one line for the technician watching


class UpdateRefused(Exception):
    """The bundle or the request was refused before anything was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class UpdateResult:
    """The last update's outcome, kept in `last-update.json` and reported to the hub."""

    version: str | None
    result: Outcome
    reason: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    previous: str | None = None
    cmd_id: str | None = None
    took_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def record_result(layout: Layout, result: UpdateResult) -> None:
    layout.data.mkdir(parents=True, exist_ok=True)
    write_atomic(layout.result_file, json.dumps(result.as_json(), indent=2) + "\n", 0o644)
