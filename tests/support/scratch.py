"""Throw-away PostgreSQL databases for tests and benchmarks: uniquely named, migrated, dropped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

from scheduler.store.db import make_engine, upgrade

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A migrated database `PREFIX_<random>` on 127.0.0.1:5432, dropped on exit; yields its URL.

    Raises psycopg.OperationalError when the server cannot be reached.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
