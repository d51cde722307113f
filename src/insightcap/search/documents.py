"""Searchable documents (transcript passages and insights) as the keyword and vector indexes see them.

Both indexes key a document by one integer, so their rankings can be fused: passage id * 2 for a
passage, insight id * 2 + 1 for an insight (migration 0002's triggers use the same rule).
Filters are applied in SQL before ranking, so a filtered search is exact rather than a post-filtered
top-k that can come back empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.orm import Session

from insightcap.search.keyword import query_terms, words_of
from insightcap.search.schema import (
    TRANSCRIPT,
    SearchFilters,
    SearchHit,
    unknown_speaker,
)
from insightcap.storage.db import folded

PASSAGE, INSIGHT = "passage", "insight"


def passage_key(row_id: int) -> int:
    return row_id * 2


def insight_key(row_id: int) -> int:
    return row_id * 2 + 1


# The same rule in SQL, for queries over the `passages` and `insights` tables.
PASSAGE_KEY_SQL = "passages.id * 2"
INSIGHT_KEY_SQL = "insights.id * 2 + 1"


def session_keys(db: Session, session_id: str) -> list[int]:
    """The keys of a session's passages, then of its insights."""
    params = {"session_id": session_id}
    passages = db.execute(text(f"SELECT {PASSAGE_KEY_SQL} FROM passages WHERE session_id = :session_id"), params)
    insights = db.execute(text(f"SELECT {INSIGHT_KEY_SQL} FROM insights WHERE session_id = :session_id"), params)
    return [*passages.scalars(), *insights.scalars()]


# A name equals the speaker filter whatever its case and accents ("tomas" is "Tomás"). Names of
# ASCII letters only (as many bytes as characters), nearly all of them, compare by SQLite's lower(),
# sparing a filtered search a call into Python's folded() (storage/db.py) for each of its rows.
_FOLDED_EQUALS = (
    "(lower({name}) = :speaker OR (length({name}) < length(CAST({name} AS BLOB)) AND folded({name}) = :speaker))"
)
# A speaker matches by the label in the transcript or by the name the facilitator gave it.
_SPEAKER_MATCH = (
    f"({_FOLDED_EQUALS.format(name='{label}')} OR EXISTS (SELECT 1 FROM sessions, "
    "json_each(sessions.speaker_names) AS named WHERE sessions.id = {table}.session_id AND named.key = {label} "
    f"AND {_FOLDED_EQUALS.format(name='named.value')}))"
)


def _session_conditions(filters: SearchFilters, params: dict[str, Any]) -> list[str]:
    conditions = []
    if filters.session_id:
        conditions.append("sessions.id = :session_id")
        params["session_id"] = filters.session_id
    if filters.within_sessions is not None:
        conditions.append("sessions.id IN (SELECT value FROM json_each(:within_sessions))")
        params["within_sessions"] = json.dumps(filters.within_sessions)
    if filters.program:
        conditions.append("lower(programs.name) = lower(:program)")
        params["program"] = filters.program
    # Sessions without a date count from the day they were added.
    session_day = "coalesce(sessions.session_date, date(sessions.created_at))"
    if filters.date_from:
        conditions.append(f"{session_day} >= :date_from")
        params["date_from"] = filters.date_from.isoformat()
    if filters.date_to:
        conditions.append(f"{session_day} <= :date_to")
        params["date_to"] = filters.date_to.isoformat()
    return conditions


def allowed_keys(db: Session, filters: SearchFilters) -> list[int] | None:
    """The keys a filtered search may return, or None when nothing is filtered."""
    if not filters.model_dump(exclude_none=True):
        return None
    params: dict[str, Any] = {}
    shared = _session_conditions(filters, params)
    if filters.speaker:
        params["speaker"] = folded(filters.speaker.strip())
    # Rows are selected through their own indexes (session, section) and matched to the allowed
    # sessions by id: joining every row to its session costs more than the rest of a search.
    in_sessions = (
        "{table}.session_id IN (SELECT sessions.id FROM sessions LEFT JOIN programs "
        f"ON programs.id = sessions.program_id WHERE {' AND '.join(shared)})"
    ) if shared else None
    keys: list[int] = []
    # Passages have no section: the "transcript" section asks for them only, any other for insights only.
    if filters.section in (None, TRANSCRIPT) and filters.kind in (None, PASSAGE):
        conditions = [in_sessions.format(table="passages")] if in_sessions else []
        if filters.speaker:
            spoke = _SPEAKER_MATCH.format(label="spoke.value", table="passages")
            conditions.append(f"EXISTS (SELECT 1 FROM json_each(passages.speakers) AS spoke WHERE {spoke})")
        keys += _keys(db, f"SELECT {PASSAGE_KEY_SQL} FROM passages", conditions, params)
    if filters.section != TRANSCRIPT and filters.kind in (None, INSIGHT):
        conditions = [in_sessions.format(table="insights")] if in_sessions else []
        if filters.section:
            conditions.append("insights.section = :section")
            params["section"] = filters.section
        if filters.speaker:
            conditions.append(_SPEAKER_MATCH.format(label="insights.speaker", table="insights"))
        keys += _keys(db, f"SELECT {INSIGHT_KEY_SQL} FROM insights", conditions, params)
    return keys


def speakers_within(db: Session, filters: SearchFilters) -> set[tuple[str, str]]:
    """Everyone who speaks in the sessions `filters` allow (their speaker and section aside), as
    (transcript label, name shown): the speaker filter matches either. A filter matching none of them
    finds nothing, and a search page can say so with the names there are."""
    params: dict[str, Any] = {}
    conditions = _session_conditions(filters, params)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = db.execute(text("SELECT sessions.speakers, sessions.speaker_names FROM sessions "
                           f"LEFT JOIN programs ON programs.id = sessions.program_id{where}"), params)
    speakers = set()
    for labels, names in rows:
        given = json.loads(names or "{}")
        speakers |= {(label, given.get(label) or label) for label in json.loads(labels or "[]") if label}
    return speakers


def speaker_filter_problem(db: Session, filters: SearchFilters) -> str | None:
    """Why `filters`' speaker would find nothing in the sessions they allow, naming the speakers there
    are (schema.unknown_speaker); None without a speaker filter or when someone there goes by it.
    The web app, the API and the command line say this instead of showing an empty result."""
    if not filters.speaker:
        return None
    narrowed = bool(filters.program or filters.date_from or filters.date_to or filters.session_id)
    return unknown_speaker(filters.speaker, speakers_within(db, filters), narrowed)


def _keys(db: Session, query: str, conditions: list[str], params: dict[str, Any]) -> list[int]:
    """Tens of thousands of keys for a broad filter: read through the driver's cursor, as SQLAlchemy's
    per-row result handling would cost more than the query itself."""
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    cursor = db.connection().connection.driver_connection.execute(query + where, params)
    return [key for (key,) in cursor]


_PASSAGE_HITS = f"""
SELECT {PASSAGE_KEY_SQL} AS key, 'passage' AS kind, passages.session_id, sessions.title, programs.name AS program,
       sessions.session_date, NULL AS section, passages.text AS quote, NULL AS statement,
       passages.start, passages."end", sessions.speaker_names, passages.speakers
FROM passages JOIN sessions ON sessions.id = passages.session_id LEFT JOIN programs ON programs.id = sessions.program_id
WHERE passages.id IN (SELECT value FROM json_each(:ids))
"""
_INSIGHT_HITS = f"""
SELECT {INSIGHT_KEY_SQL} AS key, 'insight' AS kind, insights.session_id, sessions.title, programs.name AS program,
       sessions.session_date, insights.section, insights.quote, insights.statement,
       insights.start, insights."end", sessions.speaker_names, json_array(insights.speaker) AS speakers
FROM insights JOIN sessions ON sessions.id = insights.session_id LEFT JOIN programs ON programs.id = sessions.program_id
WHERE insights.id IN (SELECT value FROM json_each(:ids))
"""


def load_rows(db: Session, keys: list[int]) -> dict[int, RowMapping]:
    """The stored rows of `keys` (two queries, whatever their number); keys whose rows are gone are left out."""
    passage_ids = [key // 2 for key in keys if key % 2 == 0]
    insight_ids = [key // 2 for key in keys if key % 2 == 1]
    rows = {}
    for query, ids in ((_PASSAGE_HITS, passage_ids), (_INSIGHT_HITS, insight_ids)):
        if ids:
            for row in db.execute(text(query), {"ids": json.dumps(ids)}).mappings():
                rows[row["key"]] = row
    return rows


def _given_names(row: RowMapping) -> dict[str, str]:
    names = row["speaker_names"] or {}
    return json.loads(names) if isinstance(names, str) else names


def _labels(row: RowMapping) -> list[str]:
    """The transcript labels of who speaks in a document, in the order they first speak."""
    return [label for label in json.loads(row["speakers"] or "[]") if label]


def speakers_of(row: RowMapping) -> set[str]:
    """Who speaks in a document: transcript labels and the names a facilitator gave them."""
    labels, names = _labels(row), _given_names(row)
    return {*labels, *(names[label] for label in labels if names.get(label))}


def by_given_names(labels: Iterable[str | None], names: dict[str, str]) -> list[str]:
    """Transcript labels as a facilitator knows the speakers: by the name given where there is one,
    each once, in order; search hits and program themes name speakers this way."""
    return list(dict.fromkeys(names.get(label) or label for label in labels if label))


def _shown_speakers(row: RowMapping) -> list[str]:
    """Who speaks in a document, by given names. A passage lists everyone in it: it often holds several
    people's words, and naming one would credit them with all of it."""
    return by_given_names(_labels(row), _given_names(row))


def to_hits(
    rows: dict[int, RowMapping],
    scored: list[tuple[int, float]],
    with_query_words: Collection[int] = (),
    query: str = "",
) -> list[SearchHit]:
    """Hits for the scored keys, in the given order, from their `load_rows` rows; `with_query_words`
    are the keys keyword search matched, and a passage's link opens where a word of `query` is said."""
    hits = []
    for key, score in scored:
        row = rows.get(key)
        if row is None:
            continue
        speakers = _shown_speakers(row)
        hits.append(
            SearchHit(
                kind=row["kind"],
                session_id=row["session_id"],
                session_title=row["title"],
                program=row["program"],
                session_date=row["session_date"],
                section=row["section"],
                speaker=speakers[0] if len(speakers) == 1 else None,
                speakers=speakers,
                quote=row["quote"],
                statement=row["statement"],
                start=row["start"],
                end=row["end"],
                moment=moment_of(row["quote"], row["start"], row["end"], query) if row["kind"] == PASSAGE else None,
                score=score,
                has_query_words=key in with_query_words,
            )
        )
    return hits


# How much of a transcript passage (about 700 characters) a result list shows: enough to judge a hit
# by, short enough to scan ten of them.
SNIPPET_CHARS = 240


def _ways_query_is_said(query: str) -> list[re.Pattern[str]]:
    """What says `query` in a text, best first: the whole of it as one phrase (a remembered quote,
    "like a balloon in a cage", whatever the punctuation between its words), then each word worth
    matching, as a whole word (a longer word it begins counts, as "template" begins "templates")."""
    patterns = []
    words = words_of(query)
    if len(words) > 1:
        phrase = r"\W+".join(re.escape(word) for word in words)
        patterns.append(re.compile(rf"(?<!\w){phrase}(?!\w)", re.IGNORECASE))
    terms = "|".join(re.escape(term) for term in query_terms(query))
    if terms:
        patterns.append(re.compile(rf"(?<!\w)(?:{terms})\w*", re.IGNORECASE))
    return patterns


def _where_query_is_said(text: str, query: str) -> re.Match[str] | None:
    """Where `query` is first said in `text`: the phrase if `text` says it, else its first word."""
    for pattern in _ways_query_is_said(query):
        said = pattern.search(text)
        if said:
            return said
    return None


def said_at(text: str, query: str) -> list[tuple[int, int]]:
    """Every (start, end) where `text` says `query`, in order and never overlapping: the phrase
    wherever it is said whole, and the query's words elsewhere. A result list highlights them, so
    the reader sees at a glance why a result was found."""
    spans: list[tuple[int, int]] = []
    for pattern in _ways_query_is_said(query):
        for said in pattern.finditer(text):
            if not any(start < said.end() and said.start() < end for start, end in spans):
                spans.append(said.span())
    return sorted(spans)


# A passage's link opens this long before its query word is estimated to be said: the estimate is
# rough, and the listener needs the start of the sentence.
LEAD_IN_SECONDS = 3.0


def moment_of(passage: str, start: float, end: float, query: str) -> float:
    """When `query` (or its first word) is said in the passage, estimated from where it falls in the
    text (a passage is about 80 seconds of talk, and its words are not timed one by one in the index),
    less LEAD_IN_SECONDS; the passage's start when no word of the query is in it."""
    found = _where_query_is_said(passage, query)
    if found is None or not passage:
        return start
    estimate = start + (end - start) * found.start() / len(passage)
    return max(start, estimate - LEAD_IN_SECONDS)


def snippet(passage: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `passage` around where `query` is said in it (from its start when
    none is), cut between words, with "…" where text is left out."""
    if len(passage) <= width:
        return passage
    found = _where_query_is_said(passage, query)
    start = min(max(0, (found.start() if found else 0) - width // 2), len(passage) - width)
    words = [(word.start(), word.end()) for word in re.finditer(r"\S+", passage)
             if word.start() >= start and word.end() <= start + width]
    first, last = (words[0][0], words[-1][1]) if words else (start, start + width)
    return f"{'…' if first > 0 else ''}{passage[first:last]}{'…' if last < len(passage) else ''}"
