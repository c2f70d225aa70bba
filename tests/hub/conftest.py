"""Hub test fixtures: the registry, and a fresh ledger on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from hub.ledger.ledger import Ledger
from hub.rules.registry import Registry, load_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh ledger URL: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.sqlite"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"t_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    with Ledger.open(db_url) as led:
        yield led
