"""Searchable documents (transcript passages and insights) as the keyword and vector indexes see them.

Both indexes key a document by one integer, so their rankings can be fused: passage id * 2 for a
passage, insight id * 2 + 1 for an insight (migration 0002's triggers use the same rule).
Filters are applied in SQL before ranking, so a filtered search is exact rather than a post-filtered
top-k that can come back empty.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from insightcap.search.schema import SearchFilters, SearchHit

PASSAGE, INSIGHT = "passage", "insight"


def passage_key(row_id: int) -> int:
    return row_id * 2


def insight_key(row_id: int) -> int:
    return row_id * 2 + 1


def live_keys(db: Session) -> set[int]:
    """Every document key the database has: what the vector index may hold and nothing else."""
    passages = db.execute(text("SELECT id * 2 FROM passages")).scalars()
    insights = db.execute(text("SELECT id * 2 + 1 FROM insights")).scalars()
    return set(passages) | set(insights)


def session_keys(db: Session, session_id: str) -> list[int]:
    params = {"session_id": session_id}
    passages = db.execute(text("SELECT id * 2 FROM passages WHERE session_id = :session_id"), params).scalars()
    insights = db.execute(text("SELECT id * 2 + 1 FROM insights WHERE session_id = :session_id"), params).scalars()
    return [*passages, *insights]


# A speaker matches by the label in the transcript or by the name the facilitator gave it.
_SPEAKER_MATCH = (
    "(lower({label}) = :speaker OR lower(coalesce("
    "(SELECT named.value FROM json_each(sessions.speaker_names) AS named WHERE named.key = {label}), '')) = :speaker)"
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
        params["speaker"] = filters.speaker.strip().lower()
    joins = "JOIN sessions ON sessions.id = {table}.session_id LEFT JOIN programs ON programs.id = sessions.program_id"
    keys: list[int] = []
    # Passages have no section: a section filter asks for insights only.
    if filters.section is None and filters.kind in (None, PASSAGE):
        conditions = list(shared)
        if filters.speaker:
            spoke = _SPEAKER_MATCH.format(label="spoke.value")
            conditions.append(f"EXISTS (SELECT 1 FROM json_each(passages.speakers) AS spoke WHERE {spoke})")
        keys += _keys(db, "SELECT passages.id * 2 FROM passages " + joins.format(table="passages"), conditions, params)
    if filters.kind in (None, INSIGHT):
        conditions = list(shared)
        if filters.section:
            conditions.append("insights.section = :section")
            params["section"] = filters.section
        if filters.speaker:
            conditions.append(_SPEAKER_MATCH.format(label="insights.speaker"))
        keys += _keys(
            db, "SELECT insights.id * 2 + 1 FROM insights " + joins.format(table="insights"), conditions, params
        )
    return keys


def _keys(db: Session, query: str, conditions: list[str], params: dict[str, Any]) -> list[int]:
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return list(db.execute(text(query + where), params).scalars())


_PASSAGE_HITS = """
SELECT passages.id * 2 AS key, 'passage' AS kind, passages.session_id, sessions.title, programs.name AS program,
       sessions.session_date, NULL AS section, passages.speaker, passages.text AS quote, NULL AS statement,
       passages.start, passages."end", sessions.speaker_names
FROM passages JOIN sessions ON sessions.id = passages.session_id LEFT JOIN programs ON programs.id = sessions.program_id
WHERE passages.id IN (SELECT value FROM json_each(:ids))
"""
_INSIGHT_HITS = """
SELECT insights.id * 2 + 1 AS key, 'insight' AS kind, insights.session_id, sessions.title, programs.name AS program,
       sessions.session_date, insights.section, insights.speaker, insights.quote, insights.statement,
       insights.start, insights."end", sessions.speaker_names
FROM insights JOIN sessions ON sessions.id = insights.session_id LEFT JOIN programs ON programs.id = sessions.program_id
WHERE insights.id IN (SELECT value FROM json_each(:ids))
"""


def load_hits(db: Session, scored: list[tuple[int, float]]) -> list[SearchHit]:
    """Hits for the scored keys, in the given order; keys whose rows are gone are left out."""
    passage_ids = [key // 2 for key, _ in scored if key % 2 == 0]
    insight_ids = [key // 2 for key, _ in scored if key % 2 == 1]
    rows = {}
    for query, ids in ((_PASSAGE_HITS, passage_ids), (_INSIGHT_HITS, insight_ids)):
        if ids:
            for row in db.execute(text(query), {"ids": json.dumps(ids)}).mappings():
                rows[row["key"]] = row
    hits = []
    for key, score in scored:
        row = rows.get(key)
        if row is None:
            continue
        names = row["speaker_names"] or {}
        if isinstance(names, str):
            names = json.loads(names)
        hits.append(
            SearchHit(
                kind=row["kind"],
                session_id=row["session_id"],
                session_title=row["title"],
                program=row["program"],
                session_date=row["session_date"],
                section=row["section"],
                speaker=names.get(row["speaker"], row["speaker"]) if row["speaker"] else None,
                quote=row["quote"],
                statement=row["statement"],
                start=row["start"],
                end=row["end"],
                score=score,
            )
        )
    return hits
