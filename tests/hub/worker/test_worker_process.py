"""A hub worker started as a child (`hub/worker/worker_process.py`, the one way tests, the bench
and `make run` start one) is ready when it says READY on its pipe, once the broker
granted its subscriptions, not when it prints its line; a worker that ends first is
reported at once, with its log; its stdout is read to the end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hub.lab.broker_process import TlsMosquittoProcess, free_port
from hub.lab.lab import Lab
from hub.worker.worker_process import (
    READY,
    READY_FD_ENV,
    WorkerNotReady,
    launch_hub_worker,
    notify_ready,
    start_hub_worker,
    worker_args,
)

pytestmark = pytest.mark.slow  # seconds each: run first under xdist (tests/conftest.py)


def test_a_worker_says_ready_once_subscribed_and_stops_with_its_last_line_read(
    lab: Lab, own_broker: TlsMosquittoProcess, tmp_path: Path
) -> None:
    # Its own broker: a stopped worker keeps its session in the share group, and on the
    # session's broker that session would take its turn at every later test's requests.
    broker = own_broker
    config = lab.hub_config("wp1", seed_per_member=5)
    args = worker_args(broker.url, f"sqlite:///{tmp_path}/hub.sqlite", "wp1", config)
    child = start_hub_worker(args, log_path=tmp_path / "hub.log")
    try:
        assert child.ready and child.running and child.ready_s is not None
        # The line for people was printed before READY, but its reader thread may not have
        # taken it off the pipe yet when READY arrives.
        deadline = time.monotonic() + 10
        while not any(line.startswith("hub worker wp1: broker ") for line in child.lines):
            assert time.monotonic() < deadline, child.lines
            time.sleep(0.01)
    finally:
        code = child.stop()
    assert code == 0
    # What it printed as it stopped was read too: a pipe nobody reads would kill it (SIGPIPE).
    assert child.lines[-1].strip() == "hub worker wp1 stopped"
    assert child.stop() == 0  # again: nothing to do


def test_a_worker_that_ends_before_it_is_ready_is_reported_at_once_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "hub.log"
    args = ["--broker", "ftp://127.0.0.1:21", "--db", f"sqlite:///{tmp_path}/hub.sqlite"]
    with pytest.raises(WorkerNotReady) as failed:
        start_hub_worker(args, log_path=log, timeout_s=300)
    words = str(failed.value)
    assert "it ended before it was ready" in words  # the pipe's end, not the deadline
    assert str(log) in words and "ftp://" in words  # the log's tail says what was wrong


def test_the_printed_line_is_not_readiness_a_worker_without_its_broker_is_not_ready(
    lab: Lab, tmp_path: Path
) -> None:
    """Nothing listens at the broker's address: after 10 s the worker prints its line
    anyway (and a warning), but it never says READY."""
    config = lab.hub_config("wp2", seed_per_member=5)
    args = worker_args(f"mqtts://127.0.0.1:{free_port()}", f"sqlite:///{tmp_path}/hub.sqlite", "wp2", config)
    child = launch_hub_worker(args, log_path=tmp_path / "hub.log")
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("hub worker wp2: broker ") for line in child.lines):
            assert child.running and time.monotonic() < deadline, "the worker never printed its line"
            time.sleep(0.1)
        with pytest.raises(WorkerNotReady, match="did not say READY"):
            child.wait_ready(timeout_s=1.0)
        assert not child.ready and not child.running  # stopped by the failed wait
    finally:
        child.stop()


def test_notify_ready_writes_once_closes_the_pipe_and_takes_the_variable_out() -> None:
    read_end, write_end = os.pipe()
    try:
        env = {READY_FD_ENV: str(write_end)}
        assert notify_ready(env) is True
        assert READY_FD_ENV not in env  # never handed on to a child of the worker
        assert os.read(read_end, 64) == READY
        assert os.read(read_end, 64) == b""  # closed: the parent sees the end
        assert notify_ready(env) is False
        assert notify_ready({READY_FD_ENV: "not a number"}) is False
        assert notify_ready({}) is False
    finally:
        os.close(read_end)
