"""What a search over past sessions takes and returns (used by the CLI, the web app and eval)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel


class SearchFilters(BaseModel):
    program: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    section: str | None = None
    speaker: str | None = None
    session_id: str | None = None
    # Only insights or only transcript passages; None searches both.
    kind: Literal["insight", "passage"] | None = None
    # The sessions the asking user may read (set by the access policy, never from user input);
    # None means no restriction, an empty list finds nothing.
    within_sessions: list[str] | None = None


class SearchHit(BaseModel):
    """One result: an insight or a transcript passage, with what is needed to jump to its moment."""

    kind: Literal["insight", "passage"]
    session_id: str
    session_title: str
    program: str | None = None
    session_date: date | None = None
    section: str | None = None
    speaker: str | None = None
    quote: str
    statement: str | None = None
    start: float
    end: float
    score: float
