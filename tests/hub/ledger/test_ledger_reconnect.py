"""A hub worker's PostgreSQL ledger outlives a database restart: the statement that meets
the dead connection fails (its txn is sent again by its kiosk), the next one connects
again. Found by the chaos soak (bench/chaos.py): every worker kept failing with "the
connection is lost" until it was restarted itself."""

from __future__ import annotations

import psycopg
import pytest

from hub.lab.postgres_process import PostgresCluster, PostgresUnavailable
from hub.ledger.ledger import Ledger


@pytest.mark.slow
def test_a_postgresql_ledger_connects_again_after_its_server_crashed_and_came_back() -> None:
    try:
        cluster = PostgresCluster(database="reconnect").start()
    except PostgresUnavailable as exc:  # make setup installs it; say why, never skip silently
        pytest.fail(f"no private PostgreSQL cluster: {exc}")
    try:
        with Ledger.open(cluster.url) as led:
            led.db.create_schema()
            before = led.db.scalar("SELECT count(*) FROM exceptions")
            cluster.crash()
            cluster.restart()
            with pytest.raises(psycopg.OperationalError):  # the one statement on the dead connection
                led.db.scalar("SELECT count(*) FROM exceptions")
            assert led.db.scalar("SELECT count(*) FROM exceptions") == before
            with led.db.write():
                led.db.execute(
                    "INSERT INTO exceptions (txn_id, kiosk_id, reason, summary, at) VALUES (?, ?, ?, ?, ?)",
                    ("t1", "k1", "test", "after the restart", "2026-01-01T00:00:00+00:00"),
                )
            assert led.db.scalar("SELECT count(*) FROM exceptions") == before + 1
    finally:
        cluster.close()
