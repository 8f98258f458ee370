"""phases: public/private split, final picks, freeze, publication, rankings

Revision ID: 0004
Revises: 0003
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phase') as batch:
        batch.add_column(sa.Column('public_fraction', sa.Float(), nullable=True))
        batch.add_column(sa.Column('public_images', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('split_secret', sa.String(length=64), nullable=False,
                                   server_default=sa.text("''")))
        batch.add_column(sa.Column('private_published_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('final_picks', sa.Integer(), nullable=False,
                                   server_default=sa.text('2')))
        batch.add_column(sa.Column('separate_outside_data', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    # Existing phases get their own secret now, so a split set later is never derivable.
    phase = sa.table('phase', sa.column('id', sa.Integer()), sa.column('split_secret', sa.String()))
    connection = op.get_bind()
    for (phase_id,) in connection.execute(sa.select(phase.c.id)).all():
        connection.execute(phase.update().where(phase.c.id == phase_id)
                           .values(split_secret=secrets.token_hex(16)))
    with op.batch_alter_table('submission') as batch:
        batch.add_column(sa.Column('final', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('score') as batch:
        batch.add_column(sa.Column('subsets', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('score') as batch:
        batch.drop_column('subsets')
    with op.batch_alter_table('submission') as batch:
        batch.drop_column('final')
    with op.batch_alter_table('phase') as batch:
        for column in ('separate_outside_data', 'final_picks', 'frozen_at', 'private_published_at',
                       'split_secret', 'public_images', 'public_fraction'):
            batch.drop_column(column)
