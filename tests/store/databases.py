"""Database fixtures shared by the store, API and service tests: every test runs on SQLite and
on PostgreSQL (a uniquely named database on 127.0.0.1:5432, dropped at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from scheduler.store.db import make_engine, upgrade
from scheduler.store.tables import Base
from tests.support.scratch import scratch_postgres
from tests.support.services import unavailable


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database of each kind, made once per test session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "gpusched.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    import psycopg

    try:
        scratch = scratch_postgres("gpusched_test")
        url = scratch.__enter__()
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {error}")
    try:
        yield url
    finally:
        scratch.__exit__(None, None, None)


postgresql_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
"""For a test of PostgreSQL's own code path: run there only (not run and skipped on SQLite)."""


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an emptied database (rows of earlier tests removed)."""
    engine = make_engine(db_url, pool_size=4)
    with engine.begin() as connection:
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA defer_foreign_keys=ON"))
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    yield engine
    engine.dispose()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gpusched.db'}"
