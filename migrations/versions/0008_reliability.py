"""reliability: per-user session epoch, quota refunds, quota by lock instead of slot collisions

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch:
        # Bumped by logout and password change: every session cookie that carries an
        # older epoch stops working.
        batch.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('submission') as batch:
        # Set when a submission failed for an internal reason: it no longer counts
        # against the quota.
        batch.add_column(sa.Column('quota_refunded_at', sa.DateTime(timezone=True), nullable=True))
        # Quota slots are now decided under a lock on the team's row (a person's
        # uploads follow them across teams, so slot numbers of a team may repeat).
        batch.drop_constraint('uq_submission_phase_id_team_id_quota_period_quota_slot', type_='unique')
        batch.create_index('ix_submission_phase_period', ['phase_id', 'quota_period'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission') as batch:
        batch.drop_index('ix_submission_phase_period')
        batch.create_unique_constraint('uq_submission_phase_id_team_id_quota_period_quota_slot',
                                       ['phase_id', 'team_id', 'quota_period', 'quota_slot'])
        batch.drop_column('quota_refunded_at')
    with op.batch_alter_table('user') as batch:
        batch.drop_column('session_epoch')
