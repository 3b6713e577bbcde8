"""Alembic environment: runs migrations on the connection handed in by scheduler.store.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from scheduler.store.db import normalise_url
from scheduler.store.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    # Run from the alembic command line: the URL comes from `-x url=...`.
    url = normalise_url(context.get_x_argument(as_dictionary=True)["url"])
    with create_engine(url).begin() as own_connection:
        context.configure(connection=own_connection, target_metadata=Base.metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
