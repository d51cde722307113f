"""a second vector on passages and insights: the search encoder's, beside the one themes cluster

Revision ID: 0005
Revises: 0004

Search is better with MiniLM tuned for questions (search/encoder.py), but that space groups talk by
meeting and would merge a program's recurring themes, so each row keeps both vectors. Existing rows
get theirs at the next `insightcap reindex` (or the next indexed session, which rebuilds the index).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: recreating the tables would drop the keyword index's triggers.
def upgrade() -> None:
    for table in ('passages', 'insights'):
        op.add_column(table, sa.Column('search_embedding', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    for table in ('passages', 'insights'):
        op.drop_column(table, 'search_embedding')
