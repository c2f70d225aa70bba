"""The run's closing lines and CI's rule on skips (tests/run_summary.py), on real pytest
runs of a small suite: the skip count and reasons are the last lines, and under
`CI=true` a skip that is neither Pi-only nor a kernel without uinput fails the run, with
or without xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run_summary import NO_UINPUT_DRIVER

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

SUITE = f'''
import pytest

@pytest.mark.hardware
def test_on_the_pi():
    pytest.skip("not a Raspberry Pi")

@pytest.mark.uinput
def test_uinput_on_a_kernel_without_it():
    pytest.skip("{NO_UINPUT_DRIVER} (here)")

@pytest.mark.uinput
def test_uinput_not_writable():
    pytest.skip("/dev/uinput cannot be opened for writing")

def test_forgotten_server():
    pytest.skip("no server here")

def test_that_runs():
    assert True
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # seconds of hypothesis each run
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini("[pytest]\nmarkers =\n    hardware: Pi-only\n    uinput: uinput\n")
    pytester.makeconftest("from tests.run_summary import pytest_sessionfinish  # noqa: F401\n")
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_the_skips_and_their_reasons_are_the_last_lines(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert result.outlines[-5:] == [
        "skipped: 4",
        "  1 x not a Raspberry Pi [allowed under CI: Pi-only]",
        f"  1 x {NO_UINPUT_DRIVER} (here) [allowed under CI: kernel without uinput]",
        "  1 x /dev/uinput cannot be opened for writing [NOT allowed under CI]",
        "  1 x no server here [NOT allowed under CI]",
    ]


@pytest.mark.parametrize("workers", [[], ["-p", "xdist.plugin", "-n", "2"]], ids=["serial", "xdist"])
def test_under_ci_a_skip_that_is_not_allowed_fails_the_run(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_subprocess("-q", "-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.outlines[-3].startswith("CI=true: 2 skip(s) not allowed")
    assert sorted(result.outlines[-2:]) == [
        "  test_suite.py::test_forgotten_server: no server here",
        "  test_suite.py::test_uinput_not_writable: /dev/uinput cannot be opened for writing",
    ]


def test_under_ci_the_pi_only_and_no_uinput_skips_pass(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-k", "pi or without or runs")
    assert result.ret == pytest.ExitCode.OK
    assert result.outlines[-3] == "skipped: 2"
    assert not any("FAILS" in line for line in result.outlines)
