"""Read-only sessions (issue 12 item 9): a reader never waits for the writer, on either database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from scheduler.store import tokens
from scheduler.store.db import make_engine, make_read_engine, session_factory, upgrade
from scheduler.store.tables import TokenRow
from tests.store.databases import sqlite_url


def test_a_reader_sees_the_last_commit_while_a_writer_holds_the_lock(engine: Engine) -> None:
    writes, reads = session_factory(engine), session_factory(make_read_engine(engine))
    with writes() as session:
        tokens.create(session, "admin", now=time.time(), name="committed")
        session.commit()
    with writes() as writer, reads() as reader:
        # The writer's transaction is open (on SQLite it holds the write lock) and uncommitted.
        tokens.create(writer, "admin", now=time.time(), name="uncommitted")
        names = reader.scalars(select(TokenRow.name)).all()
        assert names == ["committed"]
        writer.rollback()


def test_writing_through_a_sqlite_read_session_fails_at_once(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    upgrade(engine)
    reads = session_factory(make_read_engine(engine))
    with reads() as reader, pytest.raises(OperationalError, match="readonly"):
        tokens.create(reader, "admin", now=time.time(), name="by mistake")
    engine.dispose()
