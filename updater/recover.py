"""The boot check (`python -m updater --recover`, which alliance-kiosk.service runs as
root before every start of the kiosk, so at every boot, and alliance-kiosk-update.service
after the updater stops): if the updater died between a switch and its verdict,
`current` points at a release nobody judged; point it back at `last-healthy`.

What a caller may rely on: `recover` changes nothing while an updater holds the lock
(its own verdict decides), nor when `current` is the last healthy release or there is
no whole last-healthy slot to go back to; otherwise it switches `current` back, records
`rolled_back` (with the interrupted order's cmd_id, if the pending record names one)
and, if given, restarts the kiosk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from updater import layout as slots
from updater.kiosk_files import read_plain_file
from updater.layout import Layout
from updater.lock import exclusive
from updater.results import Progress, UpdateResult, record_result

log = logging.getLogger(__name__)


def recover(layout: Layout, *, restart: Callable[[], None] | None = None,
            progress: Progress | None = None) -> UpdateResult | None:  # fmt: skip
    """The boot check (see the module doc); None when there was nothing to do."""
    say = progress or (lambda line: log.info("%s", line))
    if not layout.base.is_dir():
        say(f"nothing to recover: no {layout.base}")
        return None
    with exclusive(layout) as got_lock:
        if not got_lock:
            say("an update is running: its own verdict decides, nothing to recover")
            return None
        healthy, current = layout.last_healthy_version(), layout.current_version()
        pending = _pending(layout)
        if current == healthy or not layout.complete(healthy):
            layout.pending_file.unlink(missing_ok=True)
            say(f"current is the last healthy release ({current})" if current == healthy else
                f"no whole last-healthy release to go back to (current: {current or 'none'})")  # fmt: skip
            return None
        assert healthy is not None
        say(f"current ({current or 'none'}) was never judged healthy: back to {healthy}")
        slots.switch(layout, healthy)
        cmd_id = pending.get("cmd_id")
        result = UpdateResult(
            current, "rolled_back",
            f"{current or 'no release'} was switched to but never judged healthy (the updater "
            f"stopped before its verdict); back on {healthy}, the last healthy release",
            previous=healthy, cmd_id=cmd_id if isinstance(cmd_id, str) and len(cmd_id) <= 64 else None,
        )  # fmt: skip
        if restart is not None:
            try:
                restart()
            except Exception as exc:
                result.reason += f"; restart after the rollback failed: {exc}"
        record_result(layout, result)
        layout.pending_file.unlink(missing_ok=True)
    say(f"result: {result.result} ({result.reason})")
    return result


def _pending(layout: Layout) -> dict[str, Any]:
    """The pending switch's record (updater.switch writes it), or {} if unreadable."""
    try:
        data = json.loads(read_plain_file(layout.pending_file, 64 * 1024))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
