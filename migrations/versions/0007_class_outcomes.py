"""scores keep localization's per-image class outcomes (a split phase's classification error)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('score') as batch:
        batch.add_column(sa.Column('cls_outcomes', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('score') as batch:
        batch.drop_column('cls_outcomes')
