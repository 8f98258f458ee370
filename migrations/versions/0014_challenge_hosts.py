"""per-challenge hosts: who may run one challenge in the console without being a site admin

Revision ID: 0014
Revises: 0013 (the lead re-chains the numbers when merging)
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'challenge_host',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('challenge_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('added_by_id', sa.Integer(), nullable=True),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['added_by_id'], ['user.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('challenge_id', 'user_id'),
    )
    op.create_index(op.f('ix_challenge_host_user_id'), 'challenge_host', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_challenge_host_user_id'), table_name='challenge_host')
    op.drop_table('challenge_host')
