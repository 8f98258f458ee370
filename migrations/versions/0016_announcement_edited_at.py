"""an announcement's last edit (organizers may edit and delete announcements now)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('announcement') as batch:
        # NULL: never edited (every announcement before this revision).
        batch.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('announcement') as batch:
        batch.drop_column('edited_at')
