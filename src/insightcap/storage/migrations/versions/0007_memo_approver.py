"""memo versions record who approved them and when

Revision ID: 0007
Revises: 0006

The approver is usually not the author of the text (one facilitator writes, another approves), so
showing the author as the approver credited the wrong person. Versions approved before this
revision get their approver from the audit trail, where the web app logged every approval.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_LAST_APPROVAL = (
    "SELECT {column} FROM audit_events WHERE action = 'memo_approved' AND target = memo_versions.session_id "
    "AND detail = 'version ' || memo_versions.version ORDER BY id DESC LIMIT 1"
)


# Plain ALTER TABLE (SQLite 3.35+), not batch mode: recreating the table would drop the keyword
# index's triggers.
def upgrade() -> None:
    op.add_column('memo_versions', sa.Column('approved_by', sa.String(length=200), nullable=True))
    op.add_column('memo_versions', sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        f"UPDATE memo_versions SET approved_by = ({_LAST_APPROVAL.format(column='actor')}), "
        f"approved_at = ({_LAST_APPROVAL.format(column='at')}) WHERE status = 'approved'"
    )


def downgrade() -> None:
    op.drop_column('memo_versions', 'approved_at')
    op.drop_column('memo_versions', 'approved_by')
