"""Memo downloads: Markdown and HTML as `insightcap memo` writes them, plus Word and PDF."""

from __future__ import annotations

from fastapi.responses import Response

from insightcap.memo.export import MemoFileFormat
from insightcap.web.views import Caller, export_memo

MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def export_file(caller: Caller, session_id: str, fmt: MemoFileFormat) -> Response:
    """The memo the caller may read as a download named after the session."""
    content, filename = export_memo(caller, session_id, fmt)
    return Response(content, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
