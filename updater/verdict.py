"""The health verdict: whether a release the updater switched to came up well, judged
from what the kiosk says of itself in its health file (contract.health_file).

A release is healthy when it reports, for its own version and written after the
switch, `ready`, `link_online` and a passing self-test. What a caller may rely on:
`verdict` is "healthy" or "not " followed by what is missing, in words; a health file
that is absent, a link, not a plain small file or not in the contract's format counts
as no report at all (the kiosk's user writes that directory, and this runs as root).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from contract.health_file import MAX_BYTES, Health, HealthFileError
from updater.kiosk_files import read_plain_file
from updater.results import Progress

HealthProbe = Callable[[], Health | None]


def verdict(health: Health) -> str:
    """ "healthy", or "not ..." with what is missing."""
    missing = [
        name
        for name, good in (("ready", health.ready), ("link online", health.link_online))
        if not good
    ]
    if health.selftest_ok is None:
        missing.append("self-test not run yet")
    elif not health.selftest_ok:
        failed = health.selftest_failed
        missing.append("self-test failed" + (f" ({', '.join(failed)})" if failed else ""))
    return "healthy" if not missing else "not " + ", ".join(missing)


def health_file_probe(path: Path) -> HealthProbe:
    """Reads the kiosk's health file; None while it is absent or not a health file."""

    def probe() -> Health | None:
        try:
            return Health.parse(read_plain_file(path, MAX_BYTES + 1))
        except (OSError, HealthFileError):
            return None

    return probe


def wait_healthy(
    probe: HealthProbe,
    version: str,
    since: datetime,
    deadline_s: float,
    poll_s: float,
    say: Progress,
) -> Health | None:
    """The new release's latest report written since `since`: the first healthy one,
    else the last seen when `deadline_s` is up (None: it never reported)."""
    until = time.monotonic() + deadline_s
    say(f"waiting up to {deadline_s:.0f} s for {version}: ready, link online, self-test passed")
    latest: Health | None = None
    last_said = ""
    while True:
        health = probe()
        if (
            health is not None
            and health.version == version
            and health.at >= since.replace(microsecond=0)
        ):
            latest = health
            judged = verdict(health)
            if judged == "healthy":
                return health
            if judged != last_said:
                say(f"{version}: {judged}")
                last_said = judged
        if time.monotonic() >= until:
            return latest
        time.sleep(poll_s)
