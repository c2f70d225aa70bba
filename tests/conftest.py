"""Shared fixtures: the secure alliance by default (a lab PKI, a TLS Mosquitto with the
alliance's roles, identities enrolled on first use: `hub.lab.lab`), a private broker per test
when it must be stopped, plain brokers only for what is about Mosquitto itself or an
anonymous broker, PostgreSQL (the machine's server, else a private cluster), a disk that
loses unsynced writes at a power cut (`lazy_disk`), a KIVY_HOME that keeps ~/.kivy clean, and
the run's closing lines on skips (tests/run_summary.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal_sim.lazy_disk_mount import LazyDisk, LazyDiskUnavailable
from hub.lab.broker_process import (
    BrokerUnavailable,
    MosquittoProcess,
    TlsMosquittoProcess,
)
from hub.lab.lab import Lab
from hub.lab.postgres_process import PostgresUnavailable
from tests.postgres_server import PostgresServer
from tests.postgres_server import postgres_server as postgres_server_for_session
from tests.run_summary import pytest_sessionfinish  # noqa: F401  (the hook: skips and CI's rule)

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files that hold a `slow` test run first, each file's tests still together and in
    order: `make test`'s two xdist workers (`--dist loadfile`) then start the long
    end-to-end files at once and the run ends on short ones, where a long file handed out
    last used to run alone for minutes at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within


@pytest.fixture(scope="session", autouse=True)
def _kivy_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy_home")))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The session's alliance PKI: `lab.kiosk(ID, LIBRARY)` enrols a kiosk (and admits it
    to every running lab broker), `lab.hub_worker(NAME)` and `lab.hub_config(NAME)` a hub
    worker."""
    world = Lab(tmp_path_factory.mktemp("lab"))
    yield world
    world.close()


@pytest.fixture(scope="session")
def broker(lab: Lab) -> Iterator[TlsMosquittoProcess]:
    """The secure broker shared by the session's tests; never stop it (use `own_broker`)."""
    try:
        proc = lab.broker().start()
    except BrokerUnavailable as exc:
        pytest.fail(f"tests need Mosquitto: {exc}")
    yield proc
    proc.close()


@pytest.fixture
def own_broker(lab: Lab) -> Iterator[TlsMosquittoProcess]:
    """A secure broker of this test alone, which the test may stop and start again."""
    proc = lab.broker().start()
    yield proc
    proc.close()


@pytest.fixture(scope="session")
def plain_broker() -> Iterator[MosquittoProcess]:
    """An anonymous, plain-TCP Mosquitto: only for tests about Mosquitto's own behaviour or
    about what holds even on a misconfigured broker (the lab setup of docs/security.md)."""
    proc = MosquittoProcess().start()
    yield proc
    proc.close()


@pytest.fixture
def own_plain_broker() -> Iterator[MosquittoProcess]:
    proc = MosquittoProcess().start()
    yield proc
    proc.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This worker's PostgreSQL: the machine's server, else a private cluster started for
    the session and stopped at its end (tests/postgres_server.py). Never a skip."""
    try:
        with postgres_server_for_session() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(f"the PostgreSQL ledger tests need PostgreSQL: {exc}")


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> str:
    """The PostgreSQL URL for a ledger test, which must carry the `postgres` marker."""
    if request.node.get_closest_marker("postgres") is None:
        pytest.fail(f"{request.node.nodeid} uses PostgreSQL: mark it `postgres`")
    request.node.user_properties.append(("postgres", postgres_server.where))
    return postgres_server.url


@pytest.fixture
def lazy_disk(tmp_path: Path) -> Iterator[LazyDisk]:
    """A disk that loses every write not yet fsync'd at `power_cut()` (hal_sim.lazy_disk),
    mounted at tmp_path/card over its "flash", tmp_path/flash; unmounted after."""
    disk = LazyDisk(tmp_path / "flash", tmp_path / "card", tmp_path / "lazy_disk.log")
    try:
        disk.start()
    except LazyDiskUnavailable as exc:
        pytest.fail(f"power-loss tests need FUSE (scripts/setup_system.sh installs fuse3): {exc}")
    yield disk
    disk.close()
