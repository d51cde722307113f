"""The Jinja2 environment of the pages (templates in web/templates/app/), with the few filters they share."""

from __future__ import annotations

from fastapi.templating import Jinja2Templates

from insightcap.resources import resource_dir
from insightcap.web.views import SECTION_LABELS


def clock(seconds: float | None) -> str:
    """1:02:03 or 02:03: how players and transcripts show a moment."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


templates = Jinja2Templates(directory=resource_dir("web") / "templates")
templates.env.filters["clock"] = clock
templates.env.globals["section_labels"] = SECTION_LABELS
