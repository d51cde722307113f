"""Who will do what, by when: the parts of a commitment, read from its parse.

The owner is only ever someone the sentence names: the speaker when they commit in the first
person singular, a person named as the subject ("Maria will…") or addressed ("Maria, can you…").
"We'll…" has no single owner, and an unknown speaker stays unknown: never guessed. Due dates are
the DATE entities spaCy finds, resolved by dateparser relative to the session's date.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

import dateparser
from spacy.tokens import Span, Token

from insightcap.insights.nlp import fluent_text
from insightcap.insights.schema import ActionItem

_SUBJECTS = frozenset({"nsubj", "nsubjpass"})
_AUXILIARIES = frozenset({"aux", "auxpass", "neg"})
# Prepositions that introduce a deadline belong to what was said about it ("by Friday").
_DEADLINE_MARKERS = frozenset({"by", "before", "until", "till", "on", "for", "within"})


def _subject(verb: Token) -> Token | None:
    return next((child for child in verb.children if child.dep_ in _SUBJECTS), None)


def _task_verb(span: Span) -> Token | None:
    """The verb naming the work: the root, or what it governs in "going to / need to / try to X"."""
    verb = span.root
    if verb.pos_ not in {"VERB", "AUX"}:
        return None
    while True:
        complement = next(
            (
                child
                for child in verb.children
                if child.dep_ == "xcomp" and child.pos_ == "VERB"
            ),
            None,
        )
        has_object = any(child.dep_ in {"dobj", "dative"} for child in verb.children)
        if complement is None or has_object:
            return verb
        verb = complement


def _person_named(span: Span, token: Token) -> str | None:
    """The name of the person `token` refers to: a PERSON entity, or a proper noun spaCy's
    recogniser gave no other type (short names in speech are often missed)."""
    for entity in span.ents:
        if entity.start <= token.i < entity.end:
            return entity.text if entity.label_ == "PERSON" else None
    return token.text if token.pos_ == "PROPN" else None


def _addressed(span: Span) -> list[Token]:
    """Names said to someone ("Maria, can you…"): a person outside the clause's subject."""
    return [
        token
        for token in span
        if token.pos_ == "PROPN"
        and token.dep_ in {"npadvmod", "intj", "vocative", "dep"}
        and _person_named(span, token) is not None
    ]


def find_owner(span: Span, speaker: str | None) -> str | None:
    verb = _task_verb(span)
    subject = _subject(span.root) or (_subject(verb) if verb is not None else None)
    if subject is None:
        return None
    person = subject.morph.get("Person")
    number = subject.morph.get("Number")
    if person == ["1"] and number == ["Sing"]:
        return speaker
    if person == ["2"]:
        addressed = _addressed(span)
        return _person_named(span, addressed[0]) if len(addressed) == 1 else None
    return _person_named(span, subject)


def _end_of_period(phrase: Span, session_date: date) -> date | None:
    """ "the end of the week/month/year": dateparser resolves points in time, not period ends."""
    period = next(
        (
            token.lemma_.lower()
            for token in phrase
            if token.lemma_.lower() in {"week", "month", "year"}
        ),
        None,
    )
    if period is None or not any(token.lemma_.lower() == "end" for token in phrase):
        return None
    if period == "week":
        return session_date + timedelta(
            days=(calendar.FRIDAY - session_date.weekday()) % 7
        )
    if period == "month":
        return session_date.replace(
            day=calendar.monthrange(session_date.year, session_date.month)[1]
        )
    return session_date.replace(month=12, day=31)


def resolve_date(phrase: Span, session_date: date) -> date | None:
    base = datetime.combine(session_date, datetime.min.time())
    parsed = dateparser.parse(
        phrase.text,
        languages=["en"],
        settings={
            "RELATIVE_BASE": base,
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    return parsed.date() if parsed else _end_of_period(phrase, session_date)


def find_due(
    span: Span, session_date: date | None
) -> tuple[date | None, str | None, Span | None]:
    """(resolved date, the words said, the tokens of the deadline phrase) of the first DATE entity."""
    entity = next((entity for entity in span.ents if entity.label_ == "DATE"), None)
    if entity is None:
        return None, None, None
    start = entity.start
    before = span.doc[start - 1] if start > span.start else None
    if (
        before is not None
        and before.pos_ == "ADP"
        and before.lower_ in _DEADLINE_MARKERS
    ):
        start -= 1
    phrase = span.doc[start : entity.end]
    due = resolve_date(entity, session_date) if session_date else None
    return due, phrase.text, phrase


def find_task(span: Span, deadline: Span | None) -> str:
    verb = _task_verb(span)
    if verb is None:
        return fluent_text(span)
    excluded: set[int] = (
        set(range(deadline.start, deadline.end)) if deadline is not None else set()
    )
    for token in [verb, *verb.ancestors]:
        for child in token.children:
            if child.dep_ in _SUBJECTS or (
                child.dep_ in _AUXILIARIES and child.i < verb.i
            ):
                excluded.update(descendant.i for descendant in child.subtree)
    excluded.update(token.i for token in _addressed(span))
    tokens = [
        token
        for token in verb.subtree
        if token.i not in excluded and not token.is_punct
    ]
    return fluent_text(tokens)


def extract_action(
    span: Span, speaker: str | None, session_date: date | None
) -> ActionItem:
    due, due_text, deadline = find_due(span, session_date)
    return ActionItem(
        owner=find_owner(span, speaker),
        task=find_task(span, deadline),
        due=due,
        due_text=due_text,
    )
