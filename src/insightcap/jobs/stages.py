"""The pipeline's stages. Each reads the previous stage's stored output and stores its own, so a
job can stop anywhere and resume at the first stage not yet completed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from insightcap.config import Settings
from insightcap.insights.schema import SessionInsights
from insightcap.memo.schema import MemoDraft
from insightcap.progress import ProgressCallback
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.transcript.schema import Transcript


@dataclass(frozen=True)
class StageContext:
    settings: Settings
    session_id: str
    progress: ProgressCallback


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    run: Callable[[StageContext], None]


def _media_path(ctx: StageContext) -> Path:
    with session_scope(ctx.settings) as db:
        return ctx.settings.data_dir / repo.get_session(db, ctx.session_id).stored_path


def decode(ctx: StageContext) -> None:
    """Reject what is not usable audio before any model time is spent on it."""
    from insightcap.audio.decode import check_has_sound, probe_media

    path = _media_path(ctx)
    info = probe_media(path)
    ctx.progress(0.3, f"{info.duration_seconds / 60:.1f} min of audio")
    check_has_sound(path)
    with session_scope(ctx.settings) as db:
        repo.get_session(db, ctx.session_id).duration_seconds = info.duration_seconds
    ctx.progress(1.0, "audio checked")


def transcribe(ctx: StageContext) -> None:
    from insightcap.transcript.transcribe import get_transcriber

    transcript = get_transcriber(ctx.settings).transcribe(_media_path(ctx), ctx.progress)
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "transcript", transcript)
        record = repo.get_session(db, ctx.session_id)
        record.language = transcript.language
        record.duration_seconds = transcript.duration or record.duration_seconds


def structure(ctx: StageContext) -> None:
    from insightcap.insights.structure import extract_insights

    with session_scope(ctx.settings) as db:
        transcript = repo.load_output(db, ctx.session_id, "transcript", Transcript)
        session_date = repo.get_session(db, ctx.session_id).session_date
    insights = extract_insights(transcript, ctx.settings, session_date=session_date, progress=ctx.progress)
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "insights", insights)
        repo.replace_insights(db, ctx.session_id, insights)


def embed(ctx: StageContext) -> None:
    """Embed each insight (statement + quote) and put it in the search index."""
    from insightcap.themes.embed import Embedder
    from insightcap.themes.index import VectorIndex

    embedder = Embedder(ctx.settings)
    with session_scope(ctx.settings) as db:
        rows = repo.session_insight_rows(db, ctx.session_id)
        texts = [f"{row.statement} {row.quote}" for row in rows]
        vectors = embedder.encode(texts)
        for row, vector in zip(rows, vectors):
            row.embedding = vector.astype(np.float32).tobytes()
        row_ids = [row.id for row in rows]
        live_ids = repo.all_insight_ids(db)
    ctx.progress(0.8, f"{len(rows)} insights embedded")
    index = VectorIndex(ctx.settings.data_dir / "index" / "insights.faiss", embedder.dimension)
    # Rows replaced by a re-run of the structure stage (or deleted) leave ids the database no
    # longer has; they go in the same update, so the index never serves a vanished insight.
    stale_ids = [i for i in index.ids() if i not in live_ids]
    index.replace(remove_ids=stale_ids + row_ids, add_ids=row_ids, vectors=vectors)
    ctx.progress(1.0, "search index updated")


def memo(ctx: StageContext) -> None:
    """Draft the memo. A memo a facilitator already edited is never replaced: the draft is stored
    beside it and only becomes a version when the session has none yet."""
    from insightcap.generator.factory import get_generator
    from insightcap.memo.draft import build_memo
    from insightcap.memo.render import render_memo

    with session_scope(ctx.settings) as db:
        record = repo.get_session(db, ctx.session_id)
        transcript = repo.load_output(db, ctx.session_id, "transcript", Transcript)
        insights = repo.load_output(db, ctx.session_id, "insights", SessionInsights)
        title, program = record.title, record.program.name if record.program else None
        session_date = record.session_date
    draft = build_memo(
        title=title,
        transcript=transcript,
        insights=insights,
        generator=get_generator(ctx.settings),
        program=program,
        session_date=session_date,
        progress=ctx.progress,
    )
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "memo", draft)
        if repo.latest_memo(db, ctx.session_id) is None:
            repo.add_memo_version(db, ctx.session_id, render_memo(draft, "md"))


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("decode", "Checking audio", decode),
        Stage("transcribe", "Transcribing", transcribe),
        Stage("structure", "Finding insights", structure),
        Stage("embed", "Indexing insights", embed),
        Stage("memo", "Drafting memo", memo),
    )
}

MEDIA_STAGES = ["decode", "transcribe", "structure", "embed", "memo"]
TRANSCRIPT_STAGES = ["structure", "embed", "memo"]


def load_memo_draft(settings: Settings, session_id: str) -> MemoDraft | None:
    with session_scope(settings) as db:
        return repo.load_output(db, session_id, "memo", MemoDraft)
