"""What the theme stage hands to the web app and the memo: a program's recurring themes over time."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class ThemeQuote(BaseModel):
    """A verbatim moment that shows what the theme is about, with where to hear it."""

    session_id: str
    session_title: str
    # The day it was added for a session without a date, as in a theme's first and last seen.
    session_date: date
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

    @property
    def recurring(self) -> bool:
        """Seen in two sessions or more: a theme of one session has not recurred (yet)."""
        return len(self.session_ids) > 1


class ThemeRecurrence(BaseModel):
    """How far one program theme had come by one session: what that session's memo says about it.

    Counted over the program's sessions up to and including that session, in date order, so the
    memo of an older session never counts sessions held after it, however often it is redrafted.
    """

    theme_id: int
    program: str
    label: str
    # Sessions so far in which the theme came up (this one included), and all sessions so far.
    sessions_seen: int
    sessions_so_far: int
    first_seen: date
    # The closest moment of the most recent earlier session in which it came up, if any.
    earlier: ThemeQuote | None = None

    @property
    def recurring(self) -> bool:
        return self.sessions_seen > 1
