"""search and themes: passages, keyword index, program themes

Revision ID: 0002
Revises: 0001

The keyword index `search_text` is an SQLite FTS5 table keyed by a document key shared with the
vector index: passage id * 2 for a passage, insight id * 2 + 1 for an insight. Triggers keep it in
step with both tables (cascading deletes fire them too), so no code path can forget to update it.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TRIGGERS = {
    "passages_search_insert": "AFTER INSERT ON passages BEGIN "
    "INSERT INTO search_text(rowid, body) VALUES (new.id * 2, new.text); END",
    "passages_search_delete": "AFTER DELETE ON passages BEGIN "
    "DELETE FROM search_text WHERE rowid = old.id * 2; END",
    "passages_search_update": "AFTER UPDATE OF text ON passages BEGIN "
    "DELETE FROM search_text WHERE rowid = old.id * 2; "
    "INSERT INTO search_text(rowid, body) VALUES (new.id * 2, new.text); END",
    "insights_search_insert": "AFTER INSERT ON insights BEGIN "
    "INSERT INTO search_text(rowid, body) VALUES (new.id * 2 + 1, new.statement || ' ' || new.quote); END",
    "insights_search_delete": "AFTER DELETE ON insights BEGIN "
    "DELETE FROM search_text WHERE rowid = old.id * 2 + 1; END",
    "insights_search_update": "AFTER UPDATE OF statement, quote ON insights BEGIN "
    "DELETE FROM search_text WHERE rowid = old.id * 2 + 1; "
    "INSERT INTO search_text(rowid, body) VALUES (new.id * 2 + 1, new.statement || ' ' || new.quote); END",
}


def upgrade() -> None:
    op.create_table('passages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('speaker', sa.String(length=200), nullable=True),
    sa.Column('speakers', sa.JSON(), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('end', sa.Float(), nullable=False),
    sa.Column('first_segment', sa.Integer(), nullable=False),
    sa.Column('last_segment', sa.Integer(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passages_session_id'), ['session_id'], unique=False)

    op.create_table('program_themes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('centroid', sa.LargeBinary(), nullable=False),
    sa.Column('first_seen', sa.Date(), nullable=True),
    sa.Column('last_seen', sa.Date(), nullable=True),
    sa.Column('session_count', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('trend', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('program_themes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_program_themes_program_id'), ['program_id'], unique=False)

    op.create_table('theme_members',
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('representative', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_id'], ['program_themes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('theme_id', 'kind', 'row_id')
    )
    with op.batch_alter_table('theme_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_members_session_id'), ['session_id'], unique=False)

    # Porter stemming: "onboard" finds "onboarding"; diacritics folded so "cafe" finds "café".
    op.execute(
        "CREATE VIRTUAL TABLE search_text USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "INSERT INTO search_text(rowid, body) SELECT id * 2 + 1, statement || ' ' || quote FROM insights"
    )
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS search_text")
    with op.batch_alter_table('theme_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_members_session_id'))
    op.drop_table('theme_members')
    with op.batch_alter_table('program_themes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_program_themes_program_id'))
    op.drop_table('program_themes')
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passages_session_id'))
    op.drop_table('passages')
