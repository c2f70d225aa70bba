"""What the simulated ILS was asked, in order: for tests and scenarios to count.

Every request a handler answered is one `Request` (an identical SIP2 retransmit that
pysip2 replays from its own cache never reaches a handler and is not recorded: that is
what "the ILS handled it" means). A `Journal` lives in the simulator's process and, when
given a file, also appends one JSON line per request, so another process can read the
same records back with `Journal.read(path)`. The file is only appended to, so a simulator
restarted on the same file continues the count; it is 0600 (full patron numbers).

    journal.count("09", item="30101000000018")   # how many checkins of that item
    journal.counts()                              # Counter by command code
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ils_sim.private_files import append_private


@dataclass(frozen=True)
class Request:
    """One handled request. `location` is CP (login) or AP (checkin); `ok` the answer's
    ok flag ("1"/"0"), or None for messages without one."""

    command: str
    time: str
    patron: str | None = None
    item: str | None = None
    institution: str | None = None
    location: str | None = None
    ok: str | None = None
    message: str = ""


class Journal:
    """The ordered record of handled requests; thread-safe."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    @classmethod
    def read(cls, path: Path | str) -> Journal:
        """The records a simulator (in any process) appended to `path` (empty if absent)."""
        journal = cls()
        path = Path(path)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    journal._requests.append(Request(**json.loads(line)))
        return journal

    def record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            if self._path is not None:
                append_private(self._path, json.dumps(asdict(request), ensure_ascii=False) + "\n")

    def requests(
        self, command: str | None = None, *, item: str | None = None, patron: str | None = None
    ) -> list[Request]:
        """The records matching every given filter, oldest first."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (command is None or r.command == command)
                and (item is None or r.item == item)
                and (patron is None or r.patron == patron)
            ]

    def count(
        self, command: str | None = None, *, item: str | None = None, patron: str | None = None
    ) -> int:
        """How many handled requests match, e.g. `count("09", item=barcode)`."""
        return len(self.requests(command, item=item, patron=patron))

    def counts(self) -> Counter[str]:
        """Handled requests by command code."""
        with self._lock:
            return Counter(r.command for r in self._requests)
