"""Engines and sessions: SQLite (WAL, foreign keys) or PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as Session
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = sessionmaker[Session]
"""What services, backends and routes hold to open sessions (the type, without sqlalchemy)."""


def normalise_url(url: str) -> str:
    """Map `postgresql://` and `postgres://` to the psycopg 3 driver; leave others as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for `url`; SQLite connections get WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def make_read_engine(engine: Engine) -> Engine:
    """An engine for read-only sessions on `engine`'s database: on SQLite they never take the
    write lock; elsewhere (PostgreSQL readers never wait for writers) `engine` itself.

    Its SQLite connections begin DEFERRED and are `query_only`: in WAL mode a reader reads the
    last committed state while one writer works, and a write by mistake fails loudly instead of
    taking the lock half-way through a transaction (where it could not wait for it).
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine  # an in-memory database exists only on its own engine's connections
    readers = create_engine(engine.url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(readers, "connect", _sqlite_pragmas)
    event.listen(readers, "connect", _sqlite_query_only)
    event.listen(readers, "begin", _sqlite_begin_deferred)
    return readers


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that BEGIN IMMEDIATE (below)
    # takes the write lock up front: two writers then queue instead of failing on upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN DEFERRED")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (on a read engine: read-only)."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`).

    A schema already at the head is recognised with one query, without running the migration
    environment.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        head = ScriptDirectory.from_config(config).get_current_head()
    except CommandError:
        head = None  # several heads: the upgrade below reports them
    if head is not None and _current_revisions(engine) == {head}:
        return
    from alembic import command

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _current_revisions(engine: Engine) -> set[str]:
    """The revisions in the database's alembic_version table (empty when there is none)."""
    with engine.connect() as connection:
        try:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return {str(version) for (version,) in rows}
        except DBAPIError:
            return set()


def ping(session: Session) -> None:
    """One round trip to the database; raises when it cannot be reached."""
    session.execute(text("SELECT 1"))
