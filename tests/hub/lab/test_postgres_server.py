"""The PostgreSQL the ledger tests run on (tests/postgres_server.py,
hub/lab/postgres_process.py): a private cluster really started where no server answers,
really stopped and deleted after; a named server that does not answer is an error, not a
silent swap."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from hub.lab.broker_process import free_port
from hub.lab.postgres_process import PostgresUnavailable
from hub.pki.broker_admin import port_answers
from tests.postgres_server import postgres_server, refusal


def _nobody_listens() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/test"


@pytest.mark.postgres
def test_where_no_server_answers_a_private_cluster_serves_and_is_gone_after() -> None:
    dead = _nobody_listens()
    with postgres_server(env={}, machine_url=dead) as server:
        assert server.url != dead and f"none answered at {dead}" in server.where
        assert refusal(server.url) is None
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (n int)")
            conn.execute("INSERT INTO t VALUES (1)")
            user, database, n = conn.execute("SELECT current_user, current_database(), n FROM t").fetchone()
            data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        assert (user, database, n) == ("postgres", "test", 1)
        assert data_dir.is_dir()
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    assert not port_answers("127.0.0.1", port)
    assert not data_dir.parent.exists()


def test_a_named_server_that_does_not_answer_is_an_error() -> None:
    dead = _nobody_listens()
    with (
        pytest.raises(PostgresUnavailable, match=rf"ALLIANCE_TEST_POSTGRES={dead} does not answer"),
        postgres_server(env={"ALLIANCE_TEST_POSTGRES": dead}),
    ):
        pass


def test_an_unknown_mode_is_an_error() -> None:
    with (
        pytest.raises(PostgresUnavailable, match="ALLIANCE_TEST_PG='privat'"),
        postgres_server(env={"ALLIANCE_TEST_PG": "privat"}),
    ):
        pass
