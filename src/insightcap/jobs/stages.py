"""The pipeline's stages. Each reads the previous stage's stored output and stores its own, so a
job can stop anywhere and resume at the first stage not yet completed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from insightcap.config import Settings
from insightcap.insights.schema import SessionInsights
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
    """Reject what is not usable audio before any model time is spent on it.

    The whole file is decoded once in a limited child process; the later stages read it in-process
    and rely on this check having passed.
    """
    from insightcap.audio.limits import check_recording

    ctx.progress(0.0, "reading the whole recording once")
    check = check_recording(_media_path(ctx), ctx.settings)
    with session_scope(ctx.settings) as db:
        repo.get_session(db, ctx.session_id).duration_seconds = check.decoded_seconds
    ctx.progress(1.0, f"{check.decoded_seconds / 60:.1f} min of audio checked")


def transcribe(ctx: StageContext) -> None:
    from insightcap.transcript.transcribe import get_transcriber

    transcript = get_transcriber(ctx.settings).transcribe(_media_path(ctx), ctx.progress)
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "transcript", transcript)
        record = repo.get_session(db, ctx.session_id)
        record.language = transcript.language
        record.duration_seconds = transcript.duration or record.duration_seconds


def speakers(ctx: StageContext) -> None:
    """Label who spoke when ("Speaker 1…n", renamed later by the facilitator), within the number of
    speakers the user gave at upload. The recording is streamed: memory stays flat however long it is."""
    from insightcap.audio.decode import iter_audio
    from insightcap.transcript.diarize import diarize
    from insightcap.transcript.speakers import SpeakerBounds

    with session_scope(ctx.settings) as db:
        transcript = repo.load_output(db, ctx.session_id, "transcript", Transcript)
        record = repo.get_session(db, ctx.session_id)
        bounds = SpeakerBounds(record.min_speakers, record.max_speakers)
    labelled = diarize(iter_audio(_media_path(ctx)), transcript, ctx.settings, bounds, progress=ctx.progress)
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "transcript", labelled)


def structure(ctx: StageContext) -> None:
    from insightcap.generator.factory import get_generator
    from insightcap.insights.structure import extract_insights

    with session_scope(ctx.settings) as db:
        transcript = repo.load_output(db, ctx.session_id, "transcript", Transcript)
        session_date = repo.get_session(db, ctx.session_id).session_date
    insights = extract_insights(transcript, ctx.settings, session_date=session_date, progress=ctx.progress,
                                generator=get_generator(ctx.settings))
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "insights", insights)
        repo.replace_insights(db, ctx.session_id, insights)


def embed(ctx: StageContext) -> None:
    """Index the session for search (transcript passages and insights, keyword and vector) and
    refresh its program's recurring themes."""
    from insightcap.search.indexing import index_session
    from insightcap.themes.program import cluster_program_themes

    index_session(ctx.settings, ctx.session_id, ctx.progress)
    with session_scope(ctx.settings) as db:
        program = repo.get_session(db, ctx.session_id).program
        program_name = program.name if program else None
    if program_name:
        ctx.progress(1.0, f"updating themes of {program_name}")
        cluster_program_themes(ctx.settings, program_name)


# The memo stage's progress bar up to the finished draft; rendering and saving it take the rest.
DRAFTING_SHARE = 0.95


def memo(ctx: StageContext) -> None:
    """Draft the memo. A memo a facilitator already edited is never replaced: the draft is stored
    beside it and only becomes a version when the session has none yet."""
    from insightcap.generator.factory import get_generator
    from insightcap.memo.draft import build_memo
    from insightcap.memo.render import MemoTemplateError, program_memo
    from insightcap.themes.program import session_theme_links

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
        program_themes=session_theme_links(ctx.settings, ctx.session_id),
        # The stage is not done once the draft is: its program's template can still fail to render.
        progress=lambda fraction, message="": ctx.progress(DRAFTING_SHARE * fraction, message),
        settings=ctx.settings,
    )
    try:
        markdown = program_memo(ctx.settings.data_dir, draft, "md")
    except MemoTemplateError as error:
        raise MemoTemplateError(f"{error} Then run `insightcap retry {ctx.session_id}`.") from error
    with session_scope(ctx.settings) as db:
        repo.save_output(db, ctx.session_id, "memo", draft)
        if repo.latest_memo(db, ctx.session_id) is None:
            repo.add_memo_version(db, ctx.session_id, markdown)
    ctx.progress(1.0, "Memo saved")


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("decode", "Checking audio", decode),
        Stage("transcribe", "Transcribing", transcribe),
        Stage("speakers", "Identifying speakers", speakers),
        Stage("structure", "Finding insights", structure),
        Stage("embed", "Indexing insights", embed),
        Stage("memo", "Drafting memo", memo),
    )
}

MEDIA_STAGES = ["decode", "transcribe", "speakers", "structure", "embed", "memo"]
TRANSCRIPT_STAGES = ["structure", "embed", "memo"]

