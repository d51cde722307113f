"""a recording refused as unusable leaves only its reason behind

Revision ID: 0010
Revises: 0009

A recording with no sound or no speech was failed but kept as a session: a dead "Failed" entry in
Sessions, an empty column in its program's themes, a page promising a transcript. Its session is now
deleted at once, and this table keeps the reason for a while, for the job page and the Sessions list.
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'refused_recordings',
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('session_id', sa.String(length=32), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('stages', sa.JSON(), nullable=False),
        sa.Column('completed_stages', sa.JSON(), nullable=False),
        sa.Column('stage', sa.String(length=32), nullable=True),
        sa.Column('refused_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id'),
    )
    op.create_index('ix_refused_recordings_program_id', 'refused_recordings', ['program_id'])
    op.create_index('ix_refused_recordings_refused_at', 'refused_recordings', ['refused_at'])


def downgrade() -> None:
    op.drop_index('ix_refused_recordings_refused_at', table_name='refused_recordings')
    op.drop_index('ix_refused_recordings_program_id', table_name='refused_recordings')
    op.drop_table('refused_recordings')
