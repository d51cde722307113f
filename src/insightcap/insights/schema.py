"""What the structure stage produces: topics, and insights backed by verbatim evidence."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

_WORD = re.compile(r"[\w']+")


class Section(StrEnum):
    """The sections facilitators write by hand in a debrief."""

    CONTEXT = "context"
    IDEA = "idea"
    STRATEGY = "strategy"
    RESOURCE = "resource"
    ACTION_ITEM = "action_item"
    QUESTION = "question"
    REACTION = "reaction"


# What pages, the command line and search filters call each section: the memo's own headings
# ("Commitments"), so a facilitator meets one name for one thing.
SECTION_LABELS: dict[Section, str] = {
    Section.CONTEXT: "Context",
    Section.IDEA: "Ideas",
    Section.STRATEGY: "Strategies",
    Section.RESOURCE: "Resources",
    Section.ACTION_ITEM: "Commitments",
    Section.QUESTION: "Questions",
    Section.REACTION: "Reactions",
}


class Sentence(BaseModel):
    """The unit the structure stage classifies: one sentence of one speaker, with its timing."""

    index: int
    text: str
    start: float
    end: float
    speaker: str | None = None
    segment_index: int


class ActionItem(BaseModel):
    """Who / what / by when. Anything not said stays None: never guessed."""

    owner: str | None = None
    task: str
    due: date | None = None
    due_text: str | None = None


class Insight(BaseModel):
    section: Section
    statement: str
    quote: str
    speaker: str | None = None
    start: float
    end: float
    topic_index: int
    confidence: float = 1.0
    sentence_indices: list[int] = Field(default_factory=list)
    action: ActionItem | None = None
    # For resources: the named tool, template, document or link.
    resource_name: str | None = None

    @property
    def restates_quote(self) -> bool:
        """Whether the statement only repeats words of the quote: the quote with its "um"s and repeats
        dropped, or the start of that cut short ("…").

        Without a generator a statement is exactly that; a memo then shows the verbatim quote alone
        instead of the same words twice (readers took "Basically I was just evaluating… — “Okay, um,
        basically I was just evaluating…”" for a mistake). A reworded statement says something the
        quote does not, so it is shown beside it.
        """
        quote_words = iter(_WORD.findall(self.quote.lower()))
        statement_words = _WORD.findall(self.statement.lower())
        # A subsequence test: each statement word is found in the quote after the one before.
        return bool(statement_words) and all(word in quote_words for word in statement_words)


class OpeningLine(BaseModel):
    """A sentence the memo opens a theme with: as it reads (its "um"s dropped), who said it, when."""

    text: str
    speaker: str | None = None
    start: float


class Topic(BaseModel):
    """A stretch of the session about one subject; the memo presents insights topic by topic."""

    index: int
    title: str
    keywords: list[str] = Field(default_factory=list)
    start: float
    end: float
    sentence_indices: list[int] = Field(default_factory=list)
    opening: list[OpeningLine] = Field(default_factory=list)
    # Sessions structured before `opening` hold the same sentences here as one text, unattributed.
    summary: str = ""

    def opening_lines(self) -> list[OpeningLine]:
        """The theme's opening lines; an older session's summary counts as one line at the topic's start."""
        if self.opening or not self.summary:
            return self.opening
        return [OpeningLine(text=self.summary, start=self.start)]


class SessionInsights(BaseModel):
    topics: list[Topic]
    insights: list[Insight]
    sentences: list[Sentence] = Field(default_factory=list)

    def for_topic(self, topic_index: int) -> list[Insight]:
        return [insight for insight in self.insights if insight.topic_index == topic_index]

    def in_section(self, section: Section) -> list[Insight]:
        return [insight for insight in self.insights if insight.section == section]
