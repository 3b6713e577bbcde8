"""join tokens: a number of uses left, and whether they may take over a lost node's name

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

`uses_left` counts the joins a join token still allows (NULL: no limit); a join takes one with a
conditional UPDATE, so two joins can never both spend a token's last use. `allow_replace` lets a
join with `replace: true` take the name of a node that is not ready. Join tokens made before this
revision were handed out as reusable until they expire, so they keep NULL (no limit); new ones are
single-use unless made with `uses`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tokens', sa.Column('uses_left', sa.Integer(), nullable=True))
    op.add_column(
        'tokens',
        sa.Column('allow_replace', sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table('tokens') as batch:
        batch.drop_column('allow_replace')
        batch.drop_column('uses_left')
