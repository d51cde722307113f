"""When a commitment is due: the deadline phrase said, resolved to a day.

Due dates are the DATE entities spaCy finds that name a point in time ("by Friday", "in two
weeks", "the twentieth of March"), resolved by dateparser against the session's date. A duration
("for two weeks") is not a deadline, and a sentence naming no day gets none: a date is never
guessed. Kept apart from the grammar of who and what because it is the one place that knows the
calendar.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

import dateparser
from spacy.tokens import Span, Token

# Prepositions that introduce a deadline belong to what was said about it ("by Friday").
_DEADLINE_MARKERS = frozenset({"by", "before", "until", "till", "on", "for", "within", "in"})
# Before a number of days or weeks, these make it a point in time ("in two weeks"); "for two
# weeks" and a bare "two weeks" are how long something lasts.
_OFFSET_MARKERS = frozenset({"in", "within"})
# Days of the month said as ordinal words ("the twentieth of March"), which dateparser reads only
# as digits.
_ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_DAY_ORDINALS = (
    {word: day for day, word in enumerate(_ORDINAL_WORDS, start=1)}
    | {"twentieth": 20, "thirtieth": 30, "thirty first": 31}
    | {f"twenty {word}": 20 + day for day, word in enumerate(_ORDINAL_WORDS[:9], start=1)}
)
_SPOKEN_DAY = re.compile(
    r"\b("
    + "|".join(word.replace(" ", r"[\s-]+") for word in sorted(_DAY_ORDINALS, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_MONTH = re.compile(r"\b(" + "|".join(calendar.month_name[1:]) + r")\b", re.IGNORECASE)


def _end_of_period(phrase: Span, session_date: date) -> date | None:
    """ "the end of the week/month/year": dateparser resolves points in time, not period ends."""
    lemmas = {token.lemma_.lower() for token in phrase}
    if "end" not in lemmas:
        return None
    if "week" in lemmas:
        return session_date + timedelta(days=(calendar.FRIDAY - session_date.weekday()) % 7)
    if "month" in lemmas:
        return session_date.replace(day=calendar.monthrange(session_date.year, session_date.month)[1])
    if "year" in lemmas:
        return session_date.replace(month=12, day=31)
    return None


def _with_day_digits(text: str) -> str:
    """ "the twenty-first of March" → "the 21 of March"; only beside a month, as "the first week"
    or "the second time" name no day."""
    if not _MONTH.search(text):
        return text
    return _SPOKEN_DAY.sub(lambda match: str(_DAY_ORDINALS[" ".join(re.split(r"[\s-]+", match[1].lower()))]), text)


def resolve_date(phrase: Span, session_date: date) -> date | None:
    """The day `phrase` names, counted from the session's date; None when it names none."""
    period_end = _end_of_period(phrase, session_date)
    if period_end is not None:
        return period_end
    parsed = dateparser.parse(
        _with_day_digits(phrase.text),
        languages=["en"],
        settings={
            "RELATIVE_BASE": datetime.combine(session_date, datetime.min.time()),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    return parsed.date() if parsed else None


def _is_ordinal(token: Token) -> bool:
    """ "twentieth", "21st", "second": a position (often a day of the month), not a count."""
    return token.like_num and token.lower_.endswith(("first", "second", "third", "th", "1st", "2nd", "3rd"))


def _is_duration(entity: Span, marker: Token | None) -> bool:
    """ "two weeks", "for ten years": a length of time with a number, not said as "in two weeks"."""
    counted = any((token.like_num or token.dep_ == "nummod") and not _is_ordinal(token) for token in entity)
    return counted and (marker is None or marker.lower_ not in _OFFSET_MARKERS)


def find_due(span: Span, session_date: date | None) -> tuple[date | None, str | None, Span | None]:
    """(resolved date, the words said, the tokens of the deadline phrase) of the first DATE
    entity that names a point in time."""
    for entity in span.ents:
        if entity.label_ != "DATE":
            continue
        before = span.doc[entity.start - 1] if entity.start > span.start else None
        marker = before if before is not None and before.pos_ == "ADP" and before.lower_ in _DEADLINE_MARKERS else None
        if _is_duration(entity, marker):
            continue
        phrase = span.doc[entity.start - (marker is not None) : entity.end]
        due = resolve_date(entity, session_date) if session_date else None
        return due, phrase.text, phrase
    return None, None, None
