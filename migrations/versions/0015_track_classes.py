"""a track's own class list: ILSVRC's DET tracks (200 classes) beside CLS-LOC (1,000) in one year

Revision ID: 0015
Revises: 0014 (was 0011 on branch tasks, re-chained when merging main)
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('track') as batch:
        # NULL: the challenge's class list (every track before detection).
        batch.add_column(sa.Column('classes_blob_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f('fk_track_classes_blob_id_blob'), 'blob',
                                 ['classes_blob_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('track') as batch:
        batch.drop_constraint(batch.f('fk_track_classes_blob_id_blob'), type_='foreignkey')
        batch.drop_column('classes_blob_id')
