"""A PostgreSQL ledger never waits for ever on a server that does not answer: a connect
to a frozen server gives up (`connect_timeout`, 5 s unless the URL says otherwise, as
do the TCP keepalives that notice a vanished peer), and `Database.cut()` ends a call
waiting on a frozen backend at once, from another thread, without making a connection
again. A worker's stop relies on both (hub/worker/assembly.py); found by the chaos soak
(bench/chaos.py --postgres), where a worker stuck on its database had to be SIGKILLed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from hub.lab.postgres_process import PostgresCluster
from hub.ledger.ledger_sql import LedgerUrlError, PostgresDatabase
from tests.postgres_server import private_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A private server of this module alone: it is frozen, never the machine's or the session's."""
    with private_cluster("frozen") as server:
        yield server


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data_dir / "postmaster.pid").read_text().split()[0])


def test_the_connection_defaults_bound_a_connect_and_the_url_s_own_values_win(cluster: PostgresCluster) -> None:
    db = PostgresDatabase(f"{cluster.url}?connect_timeout=2")
    try:
        given = db._conn.info.get_parameters()
    finally:
        db.close()
    assert given["connect_timeout"] == "2"  # the URL's
    for name in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"):
        assert given[name] == PostgresDatabase.CONNECT_DEFAULTS[name]


def test_opening_a_ledger_on_a_frozen_server_fails_in_its_connect_timeout(cluster: PostgresCluster) -> None:
    postmaster = postmaster_pid(cluster)
    os.kill(postmaster, signal.SIGSTOP)  # takes the TCP connection, never answers
    try:
        started = time.monotonic()
        with pytest.raises(LedgerUrlError, match="cannot connect to PostgreSQL"):
            PostgresDatabase(f"{cluster.url}?connect_timeout=1")
        assert time.monotonic() - started < 5
    finally:
        os.kill(postmaster, signal.SIGCONT)


def test_cut_ends_a_call_waiting_on_a_frozen_backend_at_once_and_connects_no_more(cluster: PostgresCluster) -> None:
    db = PostgresDatabase(cluster.url)
    backend = db.scalar("SELECT pg_backend_pid()")
    os.kill(backend, signal.SIGSTOP)
    outcome: list[BaseException | None] = []
    waiting = threading.Thread(target=lambda: outcome.append(_fails(db)), daemon=True)
    try:
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive(), "the call did not wait on the frozen backend"
        started = time.monotonic()
        db.cut()
        waiting.join(5.0)
        assert not waiting.is_alive(), "the call still waits after cut()"
        assert time.monotonic() - started < 2
        assert isinstance(outcome[0], psycopg.OperationalError)
        assert db._conn.broken or db._conn.closed
        with pytest.raises(psycopg.OperationalError, match="cut"):  # no new connection, even to a live server
            db.scalar("SELECT 1")
    finally:
        os.kill(backend, signal.SIGCONT)
        db.close()


def _fails(db: PostgresDatabase) -> BaseException | None:
    try:
        with db.write():
            db.execute("SELECT 1")
    except Exception as exc:
        return exc
    return None
