"""ReaL labels: a classification phase's (and each truth version's) optional ReaL file

Revision ID: 0012
Revises: 0010 (the lead re-chains the numbers when merging)
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The "Reassessed Labels" (real.json) of a validation phase: hidden ground truth, a Blob
    # like the labels; versioned with them, so replacing it is a truth change.
    for table in ('phase', 'truth_version'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('real_blob_id', sa.Integer(), nullable=True))
            batch.create_foreign_key(op.f(f'fk_{table}_real_blob_id_blob'), 'blob',
                                     ['real_blob_id'], ['id'])


def downgrade() -> None:
    for table in ('truth_version', 'phase'):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f'fk_{table}_real_blob_id_blob'), type_='foreignkey')
            batch.drop_column('real_blob_id')
