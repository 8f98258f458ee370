"""warm workers: parsed class lists and ground truth stored once as artifacts

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per (artifact format, class list, labels, boxes, blacklist) checksum
    # combination; workers load it instead of parsing the hidden files again.
    op.create_table(
        'truth_artifact',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('format_version', sa.Integer(), nullable=False),
        sa.Column('classes_sha256', sa.String(length=64), nullable=False),
        sa.Column('data_sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_truth_artifact')),
        sa.UniqueConstraint('key', name=op.f('uq_truth_artifact_key')),
    )


def downgrade() -> None:
    op.drop_table('truth_artifact')
