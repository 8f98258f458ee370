"""versioned ground truth and rescoring

Existing phases and scores are on version 1 (the server defaults); the phase's
version-1 row is created when its ground truth is first replaced.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phase') as batch:
        batch.add_column(sa.Column('truth_version', sa.Integer(), nullable=False, server_default=sa.text('1')))
    with op.batch_alter_table('score') as batch:
        batch.alter_column('submission_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('for_submission_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('truth_version', sa.Integer(), nullable=False, server_default=sa.text('1')))
        batch.create_foreign_key(batch.f('fk_score_for_submission_id_submission'), 'submission',
                                 ['for_submission_id'], ['id'], ondelete='CASCADE')
        batch.create_index(batch.f('ix_score_for_submission_id'), ['for_submission_id'], unique=False)
    op.create_table('truth_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('images', sa.Integer(), nullable=False),
    sa.Column('labels_blob_id', sa.Integer(), nullable=False),
    sa.Column('boxes_blob_id', sa.Integer(), nullable=True),
    sa.Column('blacklist_blob_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['phase_id'], ['phase.id'], name=op.f('fk_truth_version_phase_id_phase'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['labels_blob_id'], ['blob.id'], name=op.f('fk_truth_version_labels_blob_id_blob')),
    sa.ForeignKeyConstraint(['boxes_blob_id'], ['blob.id'], name=op.f('fk_truth_version_boxes_blob_id_blob')),
    sa.ForeignKeyConstraint(['blacklist_blob_id'], ['blob.id'], name=op.f('fk_truth_version_blacklist_blob_id_blob')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_truth_version_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_truth_version')),
    sa.UniqueConstraint('phase_id', 'number', name=op.f('uq_truth_version_phase_id_number'))
    )
    op.create_index(op.f('ix_truth_version_phase_id'), 'truth_version', ['phase_id'], unique=False)
    op.create_table('rescore_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('previous_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['phase_id'], ['phase.id'], name=op.f('fk_rescore_run_phase_id_phase'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_rescore_run_submission_id_submission'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_rescore_run_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescore_run'))
    )
    op.create_index(op.f('ix_rescore_run_phase_id'), 'rescore_run', ['phase_id'], unique=False)
    op.create_table('rescore_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('score_id', sa.Integer(), nullable=True),
    sa.Column('previous_score_id', sa.Integer(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['rescore_run.id'], name=op.f('fk_rescore_item_run_id_rescore_run'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_rescore_item_submission_id_submission'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['score_id'], ['score.id'], name=op.f('fk_rescore_item_score_id_score'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['previous_score_id'], ['score.id'], name=op.f('fk_rescore_item_previous_score_id_score'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescore_item')),
    sa.UniqueConstraint('run_id', 'submission_id', name=op.f('uq_rescore_item_run_id_submission_id'))
    )
    op.create_index(op.f('ix_rescore_item_run_id'), 'rescore_item', ['run_id'], unique=False)
    op.create_index(op.f('ix_rescore_item_submission_id'), 'rescore_item', ['submission_id'], unique=False)


def downgrade() -> None:
    op.drop_table('rescore_item')
    op.drop_table('rescore_run')
    op.drop_table('truth_version')
    # Unpublished scores (candidates, replaced results) have no place in the old schema.
    op.execute(sa.text('DELETE FROM score WHERE submission_id IS NULL'))
    with op.batch_alter_table('score') as batch:
        batch.drop_index(batch.f('ix_score_for_submission_id'))
        batch.drop_constraint(batch.f('fk_score_for_submission_id_submission'), type_='foreignkey')
        batch.drop_column('truth_version')
        batch.drop_column('for_submission_id')
        batch.alter_column('submission_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('phase') as batch:
        batch.drop_column('truth_version')
