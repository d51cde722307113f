"""Memo downloads: Markdown and HTML as `insightcap memo` writes them, plus Word and PDF."""

from __future__ import annotations

from fastapi.responses import Response

from insightcap.config import Settings
from insightcap.memo.export import MemoFileFormat, MemoMissing, export_memo_file
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.files import safe_filename
from insightcap.web.views import MemoNotReady

MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def export_file(settings: Settings, session_ref: str, fmt: MemoFileFormat) -> Response:
    """The latest memo version as a download named after the session."""
    with session_scope(settings) as db:
        record = repo.get_session(db, session_ref)
        session_id, title = record.id, record.title
    try:
        content = export_memo_file(settings, session_id, fmt)
    except MemoMissing as error:
        raise MemoNotReady(str(error)) from None
    filename = f"{safe_filename(title)}-memo.{fmt}"
    return Response(content, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
