"""submission metadata: a paper or code link and ILSVRC's outside-data question

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults fill the rows that exist already; the models set the same values.
    with op.batch_alter_table('submission') as batch:
        batch.add_column(sa.Column('link', sa.String(length=500), nullable=False,
                                   server_default=sa.text("''")))
        batch.add_column(sa.Column('extra_data', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('submission') as batch:
        batch.drop_column('extra_data')
        batch.drop_column('link')
