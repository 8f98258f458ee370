"""rules (versioned) and their acceptance, announcements, the per-user opt-out of their e-mails

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rules_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'],
                            name=op.f('fk_rules_version_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'],
                            name=op.f('fk_rules_version_challenge_id_challenge'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules_version')),
    sa.UniqueConstraint('challenge_id', 'version', name=op.f('uq_rules_version_challenge_id_version'))
    )
    op.create_table('rules_acceptance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'],
                            name=op.f('fk_rules_acceptance_challenge_id_challenge'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                            name=op.f('fk_rules_acceptance_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules_acceptance')),
    sa.UniqueConstraint('user_id', 'challenge_id', 'version', name=op.f('uq_rules_acceptance_user_id_challenge_id_version'))
    )
    op.create_index(op.f('ix_rules_acceptance_challenge_id'), 'rules_acceptance', ['challenge_id'],
                    unique=False)
    op.create_table('announcement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('mailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mailed_to', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'],
                            name=op.f('fk_announcement_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'],
                            name=op.f('fk_announcement_challenge_id_challenge'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcement'))
    )
    op.create_index(op.f('ix_announcement_challenge_id'), 'announcement', ['challenge_id'], unique=False)
    with op.batch_alter_table('user') as batch:
        # E-mail the organizers' announcements and final results; on unless turned off.
        batch.add_column(sa.Column('notify_announcements', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('user') as batch:
        batch.drop_column('notify_announcements')
    op.drop_index(op.f('ix_announcement_challenge_id'), table_name='announcement')
    op.drop_table('announcement')
    op.drop_index(op.f('ix_rules_acceptance_challenge_id'), table_name='rules_acceptance')
    op.drop_table('rules_acceptance')
    op.drop_table('rules_version')
