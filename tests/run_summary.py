"""The last lines of a run: how many tests skipped and why, where the PostgreSQL tests
ran, and under `CI=true` a failed run when anything skipped that may not.

A green run must not hide what it did not test. The one skip CI allows is a test that
cannot run off the kiosk's hardware: the Pi-only tests (`hardware`), and the uinput test
(`uinput`) where the kernel has no uinput driver to make /dev/uinput from (a container's
kernel, not a setup step we forgot). Any other skip under CI fails the run, with the
test and its reason. tests/conftest.py installs these hooks.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass

import pytest

# The reason tests/drivers/test_hid_scanner.py gives when the kernel has no uinput.
NO_UINPUT_DRIVER = "the kernel has no uinput driver"

# marker -> (the reason must start with this, or None for any reason; why CI allows it)
ALLOWED_UNDER_CI: dict[str, tuple[str | None, str]] = {
    "hardware": (None, "Pi-only"),
    "uinput": (NO_UINPUT_DRIVER, "kernel without uinput"),
}


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str
    allowed_as: str | None  # why CI allows it, or None: CI fails the run


def ci_is_on(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def classify(report: pytest.TestReport | pytest.CollectReport) -> Skip:
    reason = _reason(report)
    keywords = getattr(report, "keywords", {}) or {}
    allowed_as = None
    for marker, (prefix, why) in ALLOWED_UNDER_CI.items():
        if marker in keywords and (prefix is None or reason.startswith(prefix)):
            allowed_as = why
            break
    return Skip(report.nodeid, reason, allowed_as)


def skips_of(reporter: pytest.TerminalReporter) -> list[Skip]:
    return [classify(r) for r in reporter.stats.get("skipped", [])]


def summary_lines(skips: list[Skip], postgres: Iterable[str], ci: bool) -> list[str]:
    """The run's closing lines (tested in tests/test_run_summary.py)."""
    lines = [f"PostgreSQL: {n} tests on {where}" for where, n in sorted(Counter(postgres).items())]
    groups = Counter((s.reason, s.allowed_as) for s in skips)
    lines.append(f"skipped: {len(skips)}")
    for (reason, allowed_as), n in sorted(groups.items(), key=lambda g: -g[1]):
        tag = f"allowed under CI: {allowed_as}" if allowed_as else "NOT allowed under CI"
        lines.append(f"  {n} x {reason} [{tag}]")
    refused = [s for s in skips if s.allowed_as is None]
    if ci and refused:
        lines.append(
            f"CI=true: {len(refused)} skip(s) not allowed (only the Pi-only tests, and the "
            "uinput test on a kernel without uinput, may skip): the run FAILS"
        )
        lines += [f"  {s.nodeid}: {s.reason}" for s in refused]
    return lines


def _postgres_places(reporter: pytest.TerminalReporter) -> list[str]:
    reports = [r for key in ("passed", "failed") for r in reporter.stats.get(key, [])]
    return [
        value
        for r in reports
        if getattr(r, "when", None) == "call"
        for name, value in getattr(r, "user_properties", ())
        if name == "postgres"
    ]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None]:
    """After pytest's own summary (so these are the last lines): the skips, and under CI a
    failed exit status when one of them is not allowed. xdist workers leave it to the
    controller, which sees every report."""
    result = yield
    if hasattr(session.config, "workerinput") or session.config.option.collectonly:
        return result
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return result
    skips = skips_of(reporter)
    ci = ci_is_on()
    for line in summary_lines(skips, _postgres_places(reporter), ci):
        reporter.write_line(line, red="NOT allowed" in line or "FAILS" in line)
    if ci and any(s.allowed_as is None for s in skips) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result
