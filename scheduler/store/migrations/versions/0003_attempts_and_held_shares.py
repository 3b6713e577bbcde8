"""Replicas carry their attempt; shares of stopping replicas are held until their process is gone

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08

A report from an agent names (job, replica, attempt) and applies only to the binding of that
attempt (`replicas.attempt`). A run that ends while its processes may still run (cancel,
eviction, a gang's failed sibling) moves each live replica's shares to `held`: the GPUs'
`allocated_milli` keeps counting them until the agent reports the process gone, or the node is
declared lost.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'replicas', sa.Column('attempt', sa.Integer(), nullable=False, server_default='1')
    )
    op.create_table(
        'held',
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('replica', sa.Integer(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('node', sa.String(length=253), nullable=False),
        sa.Column('gpus', sa.JSON(), nullable=False),
        sa.Column('cpu_millis', sa.BigInteger(), nullable=False),
        sa.Column('memory_mib', sa.BigInteger(), nullable=False),
        sa.Column('since', sa.Float(), nullable=False),
        sa.Column('stopping_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('job_id', 'replica', 'attempt'),
    )
    op.create_index(op.f('ix_held_node'), 'held', ['node'], unique=False)


def downgrade() -> None:
    # Held shares are given back first, so that allocated_milli matches allocations again.
    connection = op.get_bind()
    for node, gpus in connection.execute(sa.text('SELECT node, gpus FROM held')).all():
        for index, milli in json.loads(gpus) if isinstance(gpus, str) else gpus:
            connection.execute(
                sa.text(
                    'UPDATE gpus SET allocated_milli = allocated_milli - :milli '
                    'WHERE node = :node AND "index" = :index'
                ),
                {'milli': milli, 'node': node, 'index': index},
            )
    op.drop_index(op.f('ix_held_node'), table_name='held')
    op.drop_table('held')
    with op.batch_alter_table('replicas') as batch:
        batch.drop_column('attempt')
