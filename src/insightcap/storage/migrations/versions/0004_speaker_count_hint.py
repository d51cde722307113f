"""the number of speakers a user gave for a recording (exact, or a minimum and maximum)

Revision ID: 0004
Revises: 0003

Kept on the session rather than the job, so a retried, resumed or re-run job diarizes with it too.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_speakers', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_speakers', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('max_speakers')
        batch_op.drop_column('min_speakers')
