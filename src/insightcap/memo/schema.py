"""The debrief memo as data, before it is rendered to Markdown or HTML by a Jinja2 template."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from insightcap.insights.schema import Insight, OpeningLine
from insightcap.themes.schema import ThemeRecurrence


class MemoTheme(BaseModel):
    """One key theme of the session, in the order facilitators write a debrief."""

    topic_index: int
    title: str
    # The sentences that say what the theme was about (each with its speaker and time), and the
    # context insights that back them.
    opening: list[OpeningLine] = Field(default_factory=list)
    context_insights: list[Insight] = Field(default_factory=list)
    ideas: list[Insight] = Field(default_factory=list)
    strategies: list[Insight] = Field(default_factory=list)
    reactions: list[Insight] = Field(default_factory=list)
    resources: list[Insight] = Field(default_factory=list)
    questions_raised: list[Insight] = Field(default_factory=list)
    follow_up_questions: list[str] = Field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    # The program themes this theme's insights were clustered into, the one holding most of them first.
    program_themes: list[ThemeRecurrence] = Field(default_factory=list)

    @property
    def recurring(self) -> list[ThemeRecurrence]:
        return [link for link in self.program_themes if link.recurring]

    @property
    def new_in_program(self) -> bool:
        """Worth saying only when the program had earlier sessions it could have come up in."""
        return not self.recurring and any(link.sessions_so_far > 1 for link in self.program_themes)


class MemoDraft(BaseModel):
    title: str
    program: str | None = None
    session_date: date | None = None
    duration_seconds: float = 0.0
    participants: list[str] = Field(default_factory=list)
    # Set when the speech was not English, which every model finding insights was made for.
    language_note: str = ""
    background: str = ""
    # Left empty by the draft for the facilitator to write; background_insights is the evidence.
    why_it_matters: str = ""
    background_insights: list[Insight] = Field(default_factory=list)
    themes: list[MemoTheme] = Field(default_factory=list)
    resources: list[Insight] = Field(default_factory=list)
    commitments: list[Insight] = Field(default_factory=list)
    open_questions: list[Insight] = Field(default_factory=list)
    next_session_questions: list[str] = Field(default_factory=list)
    # The generator's runtime and model when its text was used, or why not (for logs and evals).
    generated_with: str = ""
    # The model whose text the memo uses, as its reader is told of it ("a local text model (…)");
    # empty when insightcap's own templates wrote every sentence.
    drafted_with: str = ""
