"""What a search over past sessions takes and returns (used by the CLI, the web app and eval)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from insightcap.insights.schema import Section
from insightcap.storage.db import folded
from insightcap.storage.repository import program_key
from insightcap.wording import did_you_mean, in_words

# The section filter's value for transcript passages only: hits from the transcript are labelled
# "transcript", so a facilitator can ask for just those by the same word.
TRANSCRIPT = "transcript"
SEARCH_SECTIONS: tuple[str, ...] = (*(section.value for section in Section), TRANSCRIPT)
# What else a facilitator calls a section: the memo's headings ("Commitments", "Open questions") and
# the web app's labels ("Action items"). Keys are written as `_section_key` leaves them.
_OTHER_NAMES: dict[str, Section] = {
    "background": Section.CONTEXT,
    "ideas": Section.IDEA,
    "strategies": Section.STRATEGY,
    "practical_strategies": Section.STRATEGY,
    "resources": Section.RESOURCE,
    "resources_mentioned": Section.RESOURCE,
    "action_items": Section.ACTION_ITEM,
    "commitment": Section.ACTION_ITEM,
    "commitments": Section.ACTION_ITEM,
    "questions": Section.QUESTION,
    "questions_raised": Section.QUESTION,
    "open_questions": Section.QUESTION,
    "reactions": Section.REACTION,
}
_DATE_PROBLEM = "Dates must look like 2026-11-25."
# The most results one search returns (CLI and API); a page of them is still quick to rank and read.
MOST_RESULTS = 100
QUERY_NEEDED = "Type what you are looking for, in your own words: e.g. how groups handled feedback."


def _section_key(name: str) -> str:
    """So that "Action items", "action-item" and "ACTION_ITEM" all name one section."""
    return re.sub(r"[^a-z]+", "_", name.strip().lower()).strip("_")


class SearchFilters(BaseModel):
    program: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    # One of SEARCH_SECTIONS, whatever name of it was given.
    section: str | None = None
    speaker: str | None = None
    session_id: str | None = None
    # Only insights or only transcript passages; None searches both.
    kind: Literal["insight", "passage"] | None = None
    # The sessions the asking user may read (set by the access policy, never from user input);
    # None means no restriction, an empty list finds nothing.
    within_sessions: list[str] | None = None

    @field_validator("section")
    @classmethod
    def _known_section(cls, name: str | None) -> str | None:
        """Any name of a section, as SEARCH_SECTIONS spells it. An unknown one is refused: filtering
        by it would find nothing, which reads as "no matches" instead of as a mistyped name."""
        key = _section_key(name) if name is not None else None
        if key is None or key in SEARCH_SECTIONS:
            return key
        if key in _OTHER_NAMES:
            return _OTHER_NAMES[key].value
        # A custom error keeps the sentence as it is (pydantic would prefix "Value error, ").
        raise PydanticCustomError(
            "unknown_section",
            f"There is no section '{{name}}'. Choose one of: {', '.join(SEARCH_SECTIONS)} (action_item is the "
            "memo's commitments; transcript finds what was said, without insights).",
            {"name": name},
        )

    @field_validator("program")
    @classmethod
    def _known_program(cls, name: str | None, info: ValidationInfo) -> str | None:
        """The program as it is stored, when the programs the user may search are known (`checked_filters`):
        a mistyped name would otherwise find nothing, which reads as "no matches". Only those programs are
        offered instead, so the answer never names a program the user may not see."""
        programs: list[str] | None = (info.context or {}).get("programs")
        if name is None or programs is None:
            return name
        found = next((program for program in programs if program_key(program) == program_key(name)), None)
        if found is not None:
            return found
        choices = f"Choose one of: {', '.join(programs)}." if programs else "There is no program to search yet."
        raise PydanticCustomError("unknown_program", "No program called '{name}'. {choices}",
                                  {"name": name, "choices": choices})

    @model_validator(mode="after")
    def _dates_in_order(self) -> SearchFilters:
        """A reversed range finds nothing, which would read as "no matches" rather than as a slip."""
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise PydanticCustomError(
                "reversed_dates", "The start date ({date_from}) is after the end date ({date_to}): swap them.",
                {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()})
        return self


def checked_filters(programs: Sequence[str], **asked: Any) -> SearchFilters:
    """The filters a user asked for, the program checked against `programs` (those they may search);
    raises ValidationError, which `filter_problems` words."""
    return SearchFilters.model_validate(asked, context={"programs": list(programs)})


def filter_problems(invalid: ValidationError) -> str:
    """What is wrong with the filters, in sentences a facilitator can act on."""
    # A problem of the whole range (reversed dates) has no field, so only a field's parse error gets the format hint.
    problems = (_DATE_PROBLEM if error["loc"][:1] in (("date_from",), ("date_to",)) else error["msg"]
                for error in invalid.errors())
    return " ".join(dict.fromkeys(problems))


# How many speaker names a refused speaker filter lists; past that, how many more there are.
MOST_SPEAKERS_LISTED = 12


def _as_read(name: str) -> list[str | int]:
    """A sort key putting names as people read them: any case or accents, "Speaker 2" before "Speaker 10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", folded(name) or "")]


def unknown_speaker(asked: str, speakers: Iterable[tuple[str, str]], narrowed: bool) -> str | None:
    """Why filtering by the speaker `asked` would find nothing, or None when one of `speakers` (transcript
    label, name shown) has that label or name as the filter compares them (any case or accents). Said
    instead of an empty result, which reads as "no matches", with the closest name and those there are."""
    wanted = folded(asked.strip())
    if any(wanted in (folded(label), folded(shown)) for label, shown in speakers):
        return None
    sessions = "No session matching the other filters" if narrowed else "No session"
    names = sorted({shown for _, shown in speakers}, key=_as_read)
    if not names:
        return (f"{sessions} has a speaker called '{asked}' (none has a transcript with speakers yet). "
                "Search without the speaker filter.")
    guess = did_you_mean(wanted, {folded(name): name for name in names})
    listed = names[:MOST_SPEAKERS_LISTED]
    more = [f"{len(names) - len(listed)} others"] if len(names) > len(listed) else []
    return f"{sessions} has a speaker called '{asked}'.{guess} The speakers are {in_words([*listed, *more])}."


class SearchHit(BaseModel):
    """One result: an insight or a transcript passage, with what is needed to jump to its moment."""

    kind: Literal["insight", "passage"]
    session_id: str
    session_title: str
    program: str | None = None
    session_date: date | None = None
    section: str | None = None
    # Who said it, when one person did; None for a passage where several people speak.
    speaker: str | None = None
    # Everyone whose words are in the hit, in the order they first speak (by their given names).
    speakers: list[str] = []
    quote: str
    statement: str | None = None
    start: float
    end: float
    # Where a passage's link opens: near the first word of the query in it (search/documents.py,
    # moment_of); None for an insight, which opens at its start.
    moment: float | None = None
    score: float
    # Whether a word of the query is in it; when none of the hits has one, they are only the
    # closest in meaning, and may be about something else entirely (a query on a subject no
    # session touched still gets its nearest neighbours).
    has_query_words: bool = False

    @property
    def opens_at(self) -> float:
        """The second of the recording its link opens at."""
        return self.start if self.moment is None else self.moment

    @property
    def said_by(self) -> str:
        """Who a hit's words are from, as the CLI and the search page show it. A passage is about 80
        seconds of talk: it is credited to a conversation, never to one of the people in it."""
        if len(self.speakers) > 1:
            return f"conversation between {in_words(self.speakers)}"
        return self.speaker or ""


# What to do when the results are not what was looked for (or there are none).
TRY_AGAIN = "Try other words, or fewer filters."
NO_QUERY_WORDS = (
    "None of these results contains a word of your search: they are only the closest in meaning, and "
    f"may be about something else. {TRY_AGAIN}"
)


def only_by_meaning(hits: list[SearchHit]) -> bool:
    """Whether no hit contains a word of the query: worth telling the user before they read them."""
    return bool(hits) and not any(hit.has_query_words for hit in hits)
