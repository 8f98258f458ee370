"""accounts and mail: e-mail verification time, the per-user opt-out of submission e-mails

Revision ID: 0010
Revises: 0008 (the lead sets 0009 when merging)
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch:
        # When the owner opened the link e-mailed to the address (REQUIRE_EMAIL_VERIFICATION).
        batch.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        # E-mail when one's submission is scored or fails; on unless the user turns it off.
        batch.add_column(sa.Column('notify_submissions', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('user') as batch:
        batch.drop_column('notify_submissions')
        batch.drop_column('email_verified_at')
