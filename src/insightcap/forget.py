"""Forgetting a session everywhere: the right of a participant to have a recording erased.

A session leaves traces in many places: its original file and exported memos, its rows (stage
outputs, insights, passages, memo versions, jobs, theme memberships — removed by the database's
cascades), the keyword index (kept in step by triggers), the vector index, and its program's themes,
whose keywords and centroids were computed from its words. Each of these is cleared here, and SQLite
is told to overwrite the deleted text rather than leave it in free pages of the database file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from insightcap.config import Settings
from insightcap.jobs.runner import interrupted_jobs
from insightcap.search.indexing import delete_session_from_indexes
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.search_tables import ThemeMemberRecord, ThemeRecord
from insightcap.storage.statuses import JobStatus
from insightcap.storage.tables import RefusedRecording, SessionRecord
from insightcap.themes.program import cluster_program_themes


class ForgetRefused(Exception):
    """The session cannot be forgotten right now; the message says why and what to do."""


@dataclass(frozen=True)
class ForgetReport:
    session_id: str
    title: str
    insights: int
    passages: int
    memo_versions: int
    # Paths relative to the data directory that were deleted.
    files_removed: list[str]
    program: str | None
    # Themes that existed only because of this session's words and were deleted with it.
    themes_removed: int


def forget_session(settings: Settings, session_ref: str) -> ForgetReport:
    """Delete the session (id or unambiguous id prefix) and everything derived from it.

    Raises repo.NotFound for an unknown session and ForgetRefused while a live process is still
    working on it (a job left behind by a dead process does not count).
    """
    with session_scope(settings) as db:
        # Take the write lock first, so no worker can claim or advance the session's job between
        # the check below and the delete.
        db.connection().exec_driver_sql("BEGIN IMMEDIATE")
        record = repo.get_session(db, session_ref)
        _refuse_if_processing(settings, db, record.id)
        report = _count(db, record)
        theme_ids = set(db.scalars(select(ThemeMemberRecord.theme_id).where(ThemeMemberRecord.session_id == record.id)))
        job_ids = [job.id for job in repo.jobs_for_session(db, record.id)]
        with _overwriting_deleted_text(db):
            # Cascades remove every row that names the session; triggers take it out of the keyword index.
            db.execute(delete(SessionRecord).where(SessionRecord.id == record.id))
            # Deleted keyword-index entries linger in its segments until they are merged.
            db.execute(text("INSERT INTO search_text(search_text) VALUES ('optimize')"))
        # Files go before the commit: if removing them fails, the session is still listed and
        # forgetting it can be tried again, instead of files outliving their record.
        files_removed = _remove_files(settings, record.id, job_ids)
    delete_session_from_indexes(settings, report.session_id)
    # A session with nothing indexed (a refused recording, one that failed early) was never clustered.
    themes_removed = _refresh_themes(settings, report.program, theme_ids) if report.insights or report.passages else 0
    _truncate_write_ahead_log(settings)
    return replace(report, files_removed=files_removed, themes_removed=themes_removed)


def forget_refusal(settings: Settings, job_id: str) -> None:
    """Delete the note kept about a refused recording (its title, file name and reason) before its
    week is up: the recording is gone, but its title may name a participant."""
    with session_scope(settings) as db, _overwriting_deleted_text(db):
        db.execute(delete(RefusedRecording).where(RefusedRecording.job_id == job_id))
    _truncate_write_ahead_log(settings)


@contextmanager
def _overwriting_deleted_text(db: Session) -> Iterator[None]:
    """SQLite told to overwrite what is deleted meanwhile, rather than leave the text in free pages of
    the database file. Many builds (Debian's among them) already default to this; the rest do not."""
    secure_before = db.execute(text("PRAGMA secure_delete")).scalar()
    db.execute(text("PRAGMA secure_delete = ON"))
    try:
        yield
    finally:
        db.execute(text(f"PRAGMA secure_delete = {int(secure_before)}"))


def _refuse_if_processing(settings: Settings, db: Session, session_id: str) -> None:
    orphaned = set(interrupted_jobs(settings))
    for job in repo.jobs_for_session(db, session_id):
        # A queued job may go: whoever would take it finds it gone, as the write lock above is held.
        if job.status == JobStatus.RUNNING and job.id not in orphaned:
            raise ForgetRefused(
                f"Session {session_id} is being processed right now (stage: {job.stage or 'starting'}, "
                f"by {job.worker}). Wait until it has finished or failed (`insightcap sessions` shows its status), "
                "then forget it again."
            )


def _count(db: Session, record: SessionRecord) -> ForgetReport:
    counts = {
        table: db.execute(text(f"SELECT count(*) FROM {table} WHERE session_id = :id"), {"id": record.id}).scalar()
        for table in ("insights", "passages", "memo_versions")
    }
    return ForgetReport(
        session_id=record.id, title=record.title, program=record.program.name if record.program else None,
        files_removed=[], themes_removed=0, **counts,
    )


def _remove_files(settings: Settings, session_id: str, job_ids: list[str]) -> list[str]:
    """The original and exported memos (folders named after the session) and its jobs' error logs.

    Unlike the clean-up after a rejected upload, a file that cannot be removed is an error here:
    the user was promised it is gone.
    """
    paths = [settings.media_dir / session_id, settings.exports_dir(session_id)]
    paths += [settings.job_log(job_id) for job_id in job_ids]
    present = [path for path in paths if path.exists()]
    for path in present:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [str(path.relative_to(settings.data_dir)) for path in present]


def _refresh_themes(settings: Settings, program: str | None, theme_ids: set[int]) -> int:
    """Re-cluster the program without the session. A theme it was part of that the new clustering no
    longer finds is deleted rather than kept inactive: its label and keywords came from the session."""
    if program is None:
        return 0
    cluster_program_themes(settings, program)
    with session_scope(settings) as db:
        gone = db.execute(
            delete(ThemeRecord).where(ThemeRecord.id.in_(theme_ids), ThemeRecord.active.is_(False))
        ).rowcount
    return gone


def _truncate_write_ahead_log(settings: Settings) -> None:
    """Earlier versions of the deleted rows can still sit in the write-ahead log until a checkpoint
    copies it into the database and empties it. Best effort: a reader in another process may delay it."""
    with session_scope(settings) as db:
        db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
