"""The store: SQLAlchemy tables, small repository functions and Alembic migrations.

The store is the source of truth. Every state change of a job writes an event row in the same
transaction. SQLite (WAL) by default, PostgreSQL (psycopg 3) in production.
"""
