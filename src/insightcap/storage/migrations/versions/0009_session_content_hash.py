"""sessions record the sha256 of the file they were made from

Revision ID: 0009
Revises: 0008

The same recording added twice to a program made two sessions of one meeting, whose themes then
counted as recurring. A file is now refused when its program already has a session made from the
same bytes. Sessions added before this revision have no hash and are not compared.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite 3.35+), not batch mode: recreating the table would drop the keyword
# index's triggers.
def upgrade() -> None:
    op.add_column('sessions', sa.Column('content_sha256', sa.String(length=64), nullable=True))
    op.create_index('ix_sessions_content_sha256', 'sessions', ['content_sha256'])


def downgrade() -> None:
    op.drop_index('ix_sessions_content_sha256', table_name='sessions')
    op.drop_column('sessions', 'content_sha256')
