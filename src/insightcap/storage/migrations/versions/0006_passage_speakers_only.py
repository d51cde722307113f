"""passages keep only the list of everyone speaking in them, not a single speaker

Revision ID: 0006
Revises: 0005

A passage is about 80 seconds of talk, shown and filtered by everyone in it (`speakers`, there since
0002); the single `speaker` column was written but never read.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite 3.35+), not batch mode: recreating the table would drop the keyword
# index's triggers.
def upgrade() -> None:
    op.drop_column('passages', 'speaker')


def downgrade() -> None:
    op.add_column('passages', sa.Column('speaker', sa.String(length=200), nullable=True))
