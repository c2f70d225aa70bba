"""Which PostgreSQL the ledger tests run on: never none.

The machine's server when one accepts the default URL (fast: nothing to start), else a
private cluster of this pytest process (`hub.lab.postgres_process`), as the tests start
their own Mosquitto. `ALLIANCE_TEST_PG=private` forces the private cluster (to test that
path where a server runs); `ALLIANCE_TEST_POSTGRES=URL` names a server, which must then
answer: a server asked for by name is never silently replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from hub.lab.postgres_process import PostgresCluster, PostgresUnavailable

MACHINE_URL = "postgresql://postgres@127.0.0.1:5432/test"
MODES = ("auto", "private")


@dataclass(frozen=True)
class PostgresServer:
    url: str
    where: str  # for the run's summary: which server, and why that one


def refusal(url: str) -> str | None:
    """None when `url` accepts a connection, else why not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextmanager
def postgres_server(
    env: Mapping[str, str] = os.environ, machine_url: str = MACHINE_URL
) -> Iterator[PostgresServer]:
    """The server for this session; raises PostgresUnavailable with what to do."""
    mode = env.get("ALLIANCE_TEST_PG", "auto") or "auto"
    if mode not in MODES:
        raise PostgresUnavailable(f"ALLIANCE_TEST_PG={mode!r}: use one of {', '.join(MODES)}")
    named = env.get("ALLIANCE_TEST_POSTGRES")
    if mode == "private":
        why = "ALLIANCE_TEST_PG=private"
    else:
        url = named or machine_url
        refused = refusal(url)
        if refused is None:
            yield PostgresServer(url, f"the server at {url}")
            return
        if named:
            raise PostgresUnavailable(f"ALLIANCE_TEST_POSTGRES={url} does not answer: {refused}")
        why = f"none answered at {url}"
    with PostgresCluster() as cluster:
        yield PostgresServer(cluster.url, f"a private cluster at {cluster.url} ({why})")


@contextmanager
def private_cluster(database: str) -> Iterator[PostgresCluster]:
    """A private PostgreSQL server for tests that freeze or kill it: never the machine's
    or the session's. No cluster fails the test (make setup installs it), never skips."""
    import pytest

    try:
        server = PostgresCluster(database=database).start()
    except PostgresUnavailable as exc:
        pytest.fail(f"no private PostgreSQL cluster: {exc}")
    try:
        yield server
    finally:
        server.close()
