"""Bulk writes for the scheduling commit: one statement for thousands of rows on PostgreSQL.

A cycle may bind thousands of replicas. Row-by-row executemany costs a round trip per row, so on
PostgreSQL the rows travel as one JSON parameter (or by COPY) and the server unpacks them; SQLite
runs in-process, where executemany is already cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, text, update
from sqlalchemy.orm import Session


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all carry the same keys."""
    if not rows:
        return
    if not _is_postgresql(session):
        session.connection().execute(insert(table), list(rows))
        return
    # Raw SQL skips the Python-side column defaults: fill them in as the ORM would.
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in rows[0] or default is None:
            continue
        if getattr(default, "is_scalar", False):
            defaults[column.name] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            defaults[column.name] = default.arg(None)  # type: ignore[attr-defined]
    full = [{**defaults, **row} for row in rows]
    columns = ", ".join(f'"{name}"' for name in full[0])
    session.execute(
        text(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
            f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))"
        ),
        {"rows": json.dumps(full)},
    )


def add_to_gpus(session: Session, table: Table, deltas: Sequence[tuple[str, int, int]]) -> int:
    """allocated_milli += delta for each (node, index, delta); returns how many GPUs matched."""
    if not deltas:
        return 0
    if not _is_postgresql(session):
        statement = (
            update(table)
            .where(table.c.node == bindparam("b_node"), table.c.index == bindparam("b_index"))
            .values(allocated_milli=table.c.allocated_milli + bindparam("b_delta"))
        )
        matched = session.connection().execute(
            statement, [{"b_node": n, "b_index": i, "b_delta": d} for n, i, d in deltas]
        )
        return int(matched.rowcount)
    result = session.connection().execute(
        text(
            f"UPDATE {table.name} AS g SET allocated_milli = g.allocated_milli + x.delta "
            "FROM json_to_recordset(CAST(:rows AS json)) AS x(node text, idx int, delta int) "
            'WHERE g.node = x.node AND g."index" = x.idx'
        ),
        {"rows": json.dumps([{"node": n, "idx": i, "delta": d} for n, i, d in deltas])},
    )
    return int(result.rowcount)


def set_json_by_id(
    session: Session, table: Table, *, column: str, values: Mapping[str, str], where_status: str
) -> None:
    """Set `column` (JSON) to the JSON text given per row id, on rows still in `where_status`."""
    if not values:
        return
    if not _is_postgresql(session):
        # Bound as plain text: SQLite keeps JSON as text, so the stored value is exactly this.
        session.execute(
            text(f"UPDATE {table.name} SET {column} = :value WHERE id = :id AND status = :status"),
            [{"id": key, "value": value, "status": where_status} for key, value in values.items()],
        )
        return
    session.execute(
        text("CREATE TEMPORARY TABLE _json_by_id (id text NOT NULL, value text) ON COMMIT DROP")
    )
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy("COPY _json_by_id (id, value) FROM STDIN") as copy:
        for row in values.items():
            copy.write_row(row)
    session.execute(
        text(
            f"UPDATE {table.name} AS t SET {column} = x.value::json FROM _json_by_id AS x "
            "WHERE t.id = x.id AND t.status = :status"
        ),
        {"status": where_status},
    )
    session.execute(text("DROP TABLE _json_by_id"))
