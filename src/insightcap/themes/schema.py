"""What the theme stage hands to the web app and the memo: a program's recurring themes over time."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class ThemeQuote(BaseModel):
    """A verbatim moment that shows what the theme is about, with where to hear it."""

    session_id: str
    session_title: str
    session_date: date | None = None
    speaker: str | None = None
    text: str
    start: float
    end: float


class ProgramTheme(BaseModel):
    id: int
    program: str
    label: str
    description: str
    keywords: list[str] = Field(default_factory=list)
    session_ids: list[str]
    first_seen: date | None = None
    last_seen: date | None = None
    count: int
    trend: Literal["rising", "steady", "fading"]
    quotes: list[ThemeQuote] = Field(default_factory=list)
