"""`upgrade` migrates a new database to Alembic's head, and a database at the head costs one query."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from scheduler.store.db import MIGRATIONS, _current_revisions, make_engine, upgrade


def _head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_a_new_database_is_migrated_to_the_head_and_then_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gpusched.db'}")
    assert _current_revisions(engine) == set()
    upgrade(engine)
    assert _current_revisions(engine) == {_head()}

    def no_migration(*_: object) -> None:
        raise AssertionError("a database at the head ran the migrations again")

    monkeypatch.setattr(command, "upgrade", no_migration)
    upgrade(engine)
    engine.dispose()


def test_a_database_behind_the_head_is_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gpusched.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert _current_revisions(engine) == {"0001"}
    upgrade(engine)
    assert _current_revisions(engine) == {_head()} != {"0001"}
    engine.dispose()
