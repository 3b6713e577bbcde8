"""Migration 0004 (join token uses, allow_replace) up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from scheduler.store.db import MIGRATIONS, make_engine, upgrade
from tests.store.databases import sqlite_url
from tests.support.scratch import scratch_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own at the head revision (this test moves it up and down)."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_url(tmp_path))
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with scratch_postgres("gpusched_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _migrate(engine: Engine, *, down_to: str | None = None) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if down_to:
            command.downgrade(config, down_to)
        else:
            command.upgrade(config, "head")


def test_join_tokens_made_before_0004_stay_reusable_and_cannot_replace(fresh: Engine) -> None:
    _migrate(fresh, down_to="0003")
    with fresh.begin() as connection:
        connection.execute(
            text("INSERT INTO tokens (token_hash, kind, name, queues, created_at) "
                 "VALUES ('h', 'join', 'old', '[]', 1.0)")
        )
    _migrate(fresh)
    with fresh.connect() as connection:
        row = connection.execute(text("SELECT uses_left, allow_replace FROM tokens")).one()
    assert row.uses_left is None and not row.allow_replace
    _migrate(fresh, down_to="0003")
    with fresh.connect() as connection:
        assert connection.execute(text("SELECT name FROM tokens")).scalar_one() == "old"
