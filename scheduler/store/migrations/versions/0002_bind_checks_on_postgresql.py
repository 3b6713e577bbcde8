"""PostgreSQL: the four foreign keys of replicas and allocations are checked by the bind itself

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Only the scheduler's bind statement (scheduler.store.binds) and release write these two tables.
Their foreign keys cost a trigger call per row, about 40 % of the server's work when a cycle
starts thousands of jobs, and checked nothing the bind does not establish itself: it inserts
replicas only for the jobs its own UPDATE just started, allocations only beside their replicas,
and it fails (rolls back) unless every GPU and node it names exists. Jobs, nodes and GPUs are
never deleted. The invariant walker checks for orphans. SQLite keeps the keys (nothing to gain).
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_KEYS = (
    ("replicas", "replicas_job_id_fkey", ["job_id"], "jobs", ["id"], "CASCADE"),
    ("replicas", "replicas_node_fkey", ["node"], "nodes", ["name"], "RESTRICT"),
    ("allocations", "allocations_job_id_replica_fkey", ["job_id", "replica"], "replicas",
     ["job_id", "replica"], "CASCADE"),
    ("allocations", "allocations_node_gpu_index_fkey", ["node", "gpu_index"], "gpus",
     ["node", "index"], None),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, *_ in _KEYS:
        op.drop_constraint(name, table, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, columns, target, target_columns, ondelete in _KEYS:
        op.create_foreign_key(name, table, target, columns, target_columns, ondelete=ondelete)
