"""Keeping the search indexes in step with the database, one session at a time.

The database is the source of truth: passages are cut from the stored transcript, both embeddings
(see `RowEncoders`) are stored on the row, and the keyword index is maintained by triggers. The
faiss index on disk is derived from those rows; `index_session` appends only one session's vectors
to it (its cost grows with the session, not with the corpus), and `rebuild_indexes` recreates
everything from the database (the `insightcap reindex` command).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from insightcap.config import Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.search.documents import (
    INSIGHT_KEY_SQL,
    PASSAGE_KEY_SQL,
    insight_key,
    passage_key,
    session_keys,
)
from insightcap.search.encoder import search_embedder
from insightcap.search.passages import build_passages
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.files import replacing
from insightcap.storage.search_tables import PassageRecord
from insightcap.storage.tables import InsightRecord
from insightcap.themes.embed import Embedder
from insightcap.themes.index import IndexMismatch, VectorIndex
from insightcap.transcript.schema import Transcript


def vector_index_path(settings: Settings) -> Path:
    return settings.data_dir / "index" / "search.vectors"


def _legacy_index_path(settings: Settings) -> Path:
    """Where versions before the vector log kept a whole faiss index, rewritten on every change."""
    return settings.data_dir / "index" / "search.faiss"


def _meta_path(settings: Settings) -> Path:
    return settings.data_dir / "index" / "search.json"


def _stored_meta(settings: Settings) -> dict[str, Any] | None:
    """What the index was last built with (None before anything is indexed)."""
    meta = _meta_path(settings)
    return json.loads(meta.read_text()) if meta.exists() else None


@dataclass(frozen=True)
class RowEncoders:
    """The two models every passage and insight is embedded with, by the column each one fills.

    `themes` is the configured model: theme clustering's distance cut-offs are set in its space.
    `search` is the search encoder (search/encoder.py), whose space is better for questions but
    groups talk by meeting, so it would merge a program's recurring themes.
    """

    themes: Embedder
    search: Embedder

    @classmethod
    def for_settings(cls, settings: Settings) -> RowEncoders:
        return cls(themes=Embedder(settings), search=search_embedder(settings))

    def by_column(self) -> dict[str, Embedder]:
        return {"embedding": self.themes, "search_embedding": self.search}


def _indexed_models(settings: Settings) -> dict[str, str] | None:
    """The model behind each embedding column, as last indexed (None before anything is)."""
    stored = _stored_meta(settings)
    if stored is None:
        return None
    # Before the search encoder one model made every vector, and the file named only it.
    return {"embedding": stored.get("theme_model", stored["model"]), "search_embedding": stored["model"]}


def indexed_model(settings: Settings) -> str | None:
    """The model the vector index's vectors come from (None before anything is indexed)."""
    models = _indexed_models(settings)
    return models["search_embedding"] if models else None


def _stale_columns(settings: Settings, encoders: RowEncoders) -> list[str]:
    """The embedding columns whose stored vectors another model made."""
    stored = _indexed_models(settings) or {}
    return [column for column, embedder in encoders.by_column().items()
            if stored.get(column, embedder.model_name) != embedder.model_name]


def check_indexed_model(settings: Settings, embedder: Embedder) -> None:
    """Vectors of two models are not comparable, even when their sizes happen to match."""
    stored = indexed_model(settings)
    if stored is not None and stored != embedder.model_name:
        raise IndexMismatch(
            f"The search index was built with the '{stored}' embedding model, but this version "
            f"searches with '{embedder.model_name}'. Run `insightcap reindex` to rebuild it (or add a "
            "session, which rebuilds it too)."
        )


def _write_meta(settings: Settings, encoders: RowEncoders) -> None:
    meta = {"model": encoders.search.model_name, "dimension": encoders.search.dimension,
            "theme_model": encoders.themes.model_name}
    # Searches read this file while sessions are indexed: it must never be seen half written.
    with replacing(_meta_path(settings)) as out:
        out.write((json.dumps(meta) + "\n").encode())


def insight_text(row: InsightRecord) -> str:
    """What an insight is embedded and matched as: its statement and its evidence."""
    return f"{row.statement} {row.quote}"


# insight_text() in SQL, over the `insights` table.
INSIGHT_TEXT_SQL = "insights.statement || ' ' || insights.quote"


def _vector(blob: bytes | None, dimension: int) -> np.ndarray | None:
    if blob is None or len(blob) != dimension * 4:
        return None
    return np.frombuffer(blob, dtype=np.float32)


# Rows embedded per call, so that a long session's indexing reports as it goes.
EMBEDDING_BATCH = 256


def _embed_rows(
    encoders: RowEncoders, rows: Sequence[PassageRecord | InsightRecord], progress: ProgressCallback | None = None
) -> None:
    """Store each column's vector on every row that lacks one of its model's size. Two columns of
    one model (no search encoder fits the configured model) share one pass. `progress` hears the
    fraction of the rows to embed done so far."""
    to_embed: list[tuple[str, Embedder, list[PassageRecord | InsightRecord]]] = []
    to_copy: list[tuple[str, str, list[PassageRecord | InsightRecord]]] = []
    filled_by_model: dict[str, str] = {}
    for column, embedder in encoders.by_column().items():
        missing = [row for row in rows if _vector(getattr(row, column), embedder.dimension) is None]
        same_model = filled_by_model.setdefault(embedder.model_name, column)
        if same_model != column:
            to_copy.append((column, same_model, missing))
        else:
            to_embed.append((column, embedder, missing))
    total, done = sum(len(missing) for _, _, missing in to_embed), 0
    for column, embedder, missing in to_embed:
        for offset in range(0, len(missing), EMBEDDING_BATCH):
            batch = missing[offset : offset + EMBEDDING_BATCH]
            texts = [row.text if isinstance(row, PassageRecord) else insight_text(row) for row in batch]
            for row, vector in zip(batch, embedder.encode(texts)):
                setattr(row, column, vector.astype(np.float32).tobytes())
            done += len(batch)
            if progress:
                progress(done / total, f"Embedded {done} of {total} passages and insights")
    for column, same_model, missing in to_copy:
        for row in missing:
            setattr(row, column, getattr(row, same_model))


def _refresh_session_rows(
    db: Session, session_id: str, encoders: RowEncoders, progress: ProgressCallback | None = None
) -> tuple[list[PassageRecord], list[InsightRecord]]:
    """Cut passages from the stored transcript (reusing embeddings of unchanged passages) and embed
    the passages and insights that have no embedding yet (`progress`: see _embed_rows).

    Everything is embedded before the first write: a write holds the database until the commit,
    and meanwhile progress reports and the job's heartbeat could not be stored."""
    transcript = repo.load_output(db, session_id, "transcript", Transcript)
    previous = {row.text: (row.embedding, row.search_embedding) for row in repo.session_passage_rows(db, session_id)}
    cut = build_passages(transcript) if transcript else []
    # Never added to the database: they only carry the vectors to the rows replace_passages makes.
    drafts = [PassageRecord(text=passage.text) for passage in cut]
    for draft in drafts:
        draft.embedding, draft.search_embedding = previous.get(draft.text, (None, None))
    insights = repo.session_insight_rows(db, session_id)
    with db.no_autoflush:
        _embed_rows(encoders, [*drafts, *insights], progress)
    passages = repo.replace_passages(db, session_id, cut)
    for row, draft in zip(passages, drafts):
        row.embedding, row.search_embedding = draft.embedding, draft.search_embedding
    db.flush()
    return passages, insights


def _keys_and_vectors(
    passages: Sequence[PassageRecord], insights: Sequence[InsightRecord], dimension: int
) -> tuple[np.ndarray, np.ndarray]:
    keys = [passage_key(row.id) for row in passages] + [insight_key(row.id) for row in insights]
    blobs = [row.search_embedding for row in (*passages, *insights)]
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(keys), dimension)
    return np.asarray(keys, dtype=np.int64), vectors


def index_session(
    settings: Settings,
    session_id: str,
    progress: ProgressCallback | None = None,
) -> int:
    """(Re)index one session after its transcript or insights changed; returns the vectors added.

    Only this session's vectors change in the vector index: they replace whatever it held for the
    session before, so rows replaced by a re-run leave nothing behind. An index made by another
    embedding model is rebuilt first.
    """
    encoders = RowEncoders.for_settings(settings)
    if _stale_columns(settings, encoders):
        # Made by another model (a new search encoder, or a changed setting): those stored rows are
        # redone once, then this session is indexed as usual.
        rebuild_indexes(settings, progress)
    report = progress or ignore_progress
    report(0.0, "Cutting the transcript into passages")
    with session_scope(settings) as db:
        passages, insights = _refresh_session_rows(
            db, session_id, encoders, lambda fraction, message="": report(0.8 * fraction, message))
        keys, vectors = _keys_and_vectors(passages, insights, encoders.search.dimension)
    report(0.8, f"{len(passages)} passages and {len(insights)} insights embedded")
    path = vector_index_path(settings)
    if path.exists():
        VectorIndex.write_session(path, encoders.search.dimension, session_id, keys, vectors)
    else:  # a new data folder, or one indexed before the vector log: start it from every stored row
        _build_vector_index(settings, encoders.search.dimension)
    _write_meta(settings, encoders)
    report(1.0, "search index updated")
    return len(keys)


def _stored_vectors(settings: Settings, dimension: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every stored search vector of this size, by session: what the vector index is built from."""
    by_session: dict[str, tuple[list[int], list[bytes]]] = {}
    with session_scope(settings) as db:
        rows = db.execute(text(
            f"SELECT session_id, {PASSAGE_KEY_SQL}, search_embedding FROM passages UNION ALL "
            f"SELECT session_id, {INSIGHT_KEY_SQL}, search_embedding FROM insights ORDER BY 1, 2"
        ))
        for session_id, key, blob in rows:
            if _vector(blob, dimension) is not None:
                keys, blobs = by_session.setdefault(session_id, ([], []))
                keys.append(key)
                blobs.append(blob)
    return {
        session_id: (np.asarray(keys, dtype=np.int64),
                     np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(keys), dimension))
        for session_id, (keys, blobs) in by_session.items()
    }


def _build_vector_index(settings: Settings, dimension: int) -> None:
    VectorIndex.build(vector_index_path(settings), dimension, _stored_vectors(settings, dimension))
    _legacy_index_path(settings).unlink(missing_ok=True)


def delete_session_from_indexes(settings: Settings, session_id: str) -> None:
    """Take a session out of search, whether or not its rows were already deleted."""
    with session_scope(settings) as db:
        db.execute(text("DELETE FROM search_text WHERE rowid IN (SELECT value FROM json_each(:keys))"),
                   {"keys": json.dumps(session_keys(db, session_id))})
    VectorIndex.forget_session(vector_index_path(settings), session_id)


@dataclass(frozen=True)
class RebuildReport:
    sessions: int
    passages: int
    insights: int


def rebuild_indexes(settings: Settings, progress: ProgressCallback | None = None) -> RebuildReport:
    """Recreate passages, embeddings (only where missing or from another model), the keyword index
    and the vector index from the database, then re-cluster every program's themes."""
    from insightcap.themes.program import cluster_program_themes

    encoders = RowEncoders.for_settings(settings)
    with session_scope(settings) as db:
        session_ids = list(db.execute(text("SELECT id FROM sessions ORDER BY created_at")).scalars())
        for column in _stale_columns(settings, encoders):  # a name of RowEncoders.by_column, not input
            db.execute(text(f"UPDATE passages SET {column} = NULL"))
            db.execute(text(f"UPDATE insights SET {column} = NULL"))
    passage_count, insight_count = 0, 0
    for done, session_id in enumerate(session_ids):
        with session_scope(settings) as db:
            passages, insights = _refresh_session_rows(db, session_id, encoders)
        passage_count, insight_count = passage_count + len(passages), insight_count + len(insights)
        if progress:
            progress(0.8 * (done + 1) / max(len(session_ids), 1), f"{done + 1}/{len(session_ids)} sessions")
    with session_scope(settings) as db:
        db.execute(text("DELETE FROM search_text"))
        db.execute(text(f"INSERT INTO search_text(rowid, body) SELECT {PASSAGE_KEY_SQL}, text FROM passages"))
        db.execute(text(f"INSERT INTO search_text(rowid, body) SELECT {INSIGHT_KEY_SQL}, {INSIGHT_TEXT_SQL} FROM insights"))
        programs = list(db.execute(text("SELECT name FROM programs")).scalars())
    _build_vector_index(settings, encoders.search.dimension)
    _write_meta(settings, encoders)
    if progress:
        progress(0.9, "search index rebuilt")
    for program in programs:
        cluster_program_themes(settings, program)
    if progress:
        progress(1.0, f"{len(programs)} programs' themes updated")
    return RebuildReport(sessions=len(session_ids), passages=passage_count, insights=insight_count)
