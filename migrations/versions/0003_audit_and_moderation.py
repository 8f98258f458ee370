"""the organizers' audit log; moderation and reference entries (admin console)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_entry_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenge.id'], name=op.f('fk_audit_entry_challenge_id_challenge'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    op.create_index(op.f('ix_audit_entry_action'), 'audit_entry', ['action'], unique=False)
    op.create_index(op.f('ix_audit_entry_at'), 'audit_entry', ['at'], unique=False)
    op.create_index(op.f('ix_audit_entry_challenge_id'), 'audit_entry', ['challenge_id'], unique=False)
    # Moderation of submissions and teams, and the organizers' reference entries.
    with op.batch_alter_table('submission') as batch:
        batch.add_column(sa.Column('moderation', sa.String(length=20), server_default=sa.text("''"),
                                   nullable=False))
        batch.add_column(sa.Column('moderation_reason', sa.String(length=2000),
                                   server_default=sa.text("''"), nullable=False))
    with op.batch_alter_table('team') as batch:
        batch.add_column(sa.Column('moderation', sa.String(length=20), server_default=sa.text("''"),
                                   nullable=False))
        batch.add_column(sa.Column('moderation_reason', sa.String(length=2000),
                                   server_default=sa.text("''"), nullable=False))
        batch.add_column(sa.Column('is_reference', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('team') as batch:
        batch.drop_column('is_reference')
        batch.drop_column('moderation_reason')
        batch.drop_column('moderation')
    with op.batch_alter_table('submission') as batch:
        batch.drop_column('moderation_reason')
        batch.drop_column('moderation')
    op.drop_table('audit_entry')
