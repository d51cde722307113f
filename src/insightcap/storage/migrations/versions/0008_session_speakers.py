"""sessions keep who speaks in their transcript

Revision ID: 0008
Revises: 0007

The sessions list names everyone who spoke. Read from each transcript's JSON, it would parse
megabytes per session on every listing; the list is now kept on the session whenever its transcript
is saved, and filled in here from the transcripts already stored, in order of first speaking.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_SPEAKERS_IN_ORDER = """
SELECT json_group_array(speaker) FROM (
    SELECT json_extract(segment.value, '$.speaker') AS speaker, MIN(segment.key) AS first_spoke
    FROM stage_outputs, json_each(stage_outputs.payload, '$.segments') AS segment
    WHERE stage_outputs.session_id = sessions.id AND stage_outputs.stage = 'transcript'
      AND json_extract(segment.value, '$.speaker') IS NOT NULL AND json_extract(segment.value, '$.speaker') != ''
    GROUP BY speaker ORDER BY first_spoke
)
"""


# Plain ALTER TABLE (SQLite 3.35+), not batch mode: recreating the table would drop the keyword
# index's triggers.
def upgrade() -> None:
    op.add_column('sessions', sa.Column('speakers', sa.JSON(), nullable=True))
    op.execute(f"UPDATE sessions SET speakers = ({_SPEAKERS_IN_ORDER})")


def downgrade() -> None:
    op.drop_column('sessions', 'speakers')
