"""Shared fixtures: a private Mosquitto per test session (or per test when it must be
stopped), PostgreSQL when a server answers, and a KIVY_HOME that keeps ~/.kivy clean."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from hub.broker_process import BrokerUnavailable, MosquittoProcess, port_answers

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")


@pytest.fixture(scope="session", autouse=True)
def _kivy_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("KIVY_HOME", str(tmp_path_factory.mktemp("kivy_home")))


@pytest.fixture(scope="session")
def broker() -> Iterator[MosquittoProcess]:
    """A Mosquitto shared by the session's tests; never stop it (use `own_broker`)."""
    try:
        proc = MosquittoProcess().start()
    except BrokerUnavailable as exc:
        pytest.fail(f"tests need Mosquitto: {exc}")
    yield proc
    proc.close()


@pytest.fixture
def own_broker() -> Iterator[MosquittoProcess]:
    """A Mosquitto of this test alone, which the test may stop and start again."""
    proc = MosquittoProcess().start()
    yield proc
    proc.close()


POSTGRES_URL = os.environ.get("ALLIANCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for ledger tests; skips loudly when no server answers."""
    if not port_answers("127.0.0.1", 5432):
        message = (
            "PostgreSQL: NO SERVER ANSWERS on 127.0.0.1:5432 -- the PostgreSQL ledger tests "
            "are SKIPPED. Start PostgreSQL to run them."
        )
        warnings.warn(message, stacklevel=1)
        print(f"\n*** {message} ***\n")
        pytest.skip(message)
    return POSTGRES_URL
