"""Runs a persisted job stage by stage, recording progress, so a killed process can be resumed.

User-facing failures (bad media, bad transcript file, missing model) are stored as plain-words
errors on the job; anything unexpected is logged with its traceback under the data directory and
reported with a pointer to that log. Nothing half-done is marked complete.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from insightcap.config import Settings
from insightcap.jobs.stages import STAGES, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.tables import JobRecord

log = logging.getLogger(__name__)

# Called with (stage name, fraction of that stage 0..1, message) as a job advances.
JobListener = Callable[[str, float, str], None]

_HEARTBEAT_SECONDS = 2.0
_STALE_AFTER = timedelta(minutes=10)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def user_facing_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message is written for the user (bad input, missing model)."""
    from insightcap.audio.decode import MediaError
    from insightcap.memo.render import MemoTemplateError
    from insightcap.transcript.importers import TranscriptFormatError
    from insightcap.weights import ModelUnavailable

    return (MediaError, TranscriptFormatError, ModelUnavailable, MemoTemplateError)


class _ProgressRecorder:
    """Writes a stage's progress to the job row at most every couple of seconds (a heartbeat too)."""

    def __init__(self, settings: Settings, job_id: str, stage: str, listener: JobListener | None) -> None:
        self.settings, self.job_id, self.stage, self.listener = settings, job_id, stage, listener
        self._last_write = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if self.listener:
            self.listener(self.stage, fraction, message)
        now = time.monotonic()
        if now - self._last_write >= _HEARTBEAT_SECONDS or fraction >= 1.0:
            self._last_write = now
            with session_scope(self.settings) as db:
                job = repo.get_job(db, self.job_id)
                job.progress, job.message = fraction, message
                job.heartbeat_at = datetime.now(timezone.utc)


def _claim(settings: Settings, job_id: str) -> list[str]:
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        job.status, job.error, job.attempts = "running", None, job.attempts + 1
        job.worker, job.heartbeat_at = _worker_id(), datetime.now(timezone.utc)
        repo.get_session(db, job.session_id).status = "processing"
        return [stage for stage in job.stages if stage not in job.completed_stages]


def _finish_stage(settings: Settings, job_id: str, stage: str) -> None:
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        job.completed_stages = [*job.completed_stages, stage]
        job.progress = 1.0


def _fail(settings: Settings, job_id: str, message: str) -> None:
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        job.status, job.error = "failed", message
        repo.get_session(db, job.session_id).status = "failed"


def run_job(settings: Settings, job_id: str, listener: JobListener | None = None) -> JobRecord:
    """Run every stage of the job not completed yet; returns the job as it ended."""
    remaining = _claim(settings, job_id)
    with session_scope(settings) as db:
        session_id = repo.get_job(db, job_id).session_id
    for stage_name in remaining:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.stage, job.progress, job.message = stage_name, 0.0, STAGES[stage_name].label
        recorder = _ProgressRecorder(settings, job_id, stage_name, listener)
        recorder(0.0, STAGES[stage_name].label)  # listeners see the stage start, not only its first report
        try:
            STAGES[stage_name].run(StageContext(settings=settings, session_id=session_id, progress=recorder))
        except user_facing_errors() as error:
            _fail(settings, job_id, str(error))
            break
        except Exception as error:  # an internal fault: keep the traceback, tell the user where it is
            log_path = _log_traceback(settings, job_id)
            _fail(
                settings,
                job_id,
                f"{STAGES[stage_name].label} failed unexpectedly ({error.__class__.__name__}: {error}). "
                f"Details are in {log_path}. Retry with `insightcap retry {session_id}`.",
            )
            break
        recorder(1.0, "done")
        _finish_stage(settings, job_id, stage_name)
    else:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.status, job.stage, job.message = "done", None, "done"
            repo.get_session(db, session_id).status = "ready"
    with session_scope(settings) as db:
        return repo.get_job(db, job_id)


def _log_traceback(settings: Settings, job_id: str) -> str:
    path = settings.data_dir / "logs" / f"job-{job_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    log.addHandler(handler)
    try:
        log.exception("job %s failed", job_id)
    finally:
        log.removeHandler(handler)
        handler.close()
    return str(path)


def _worker_is_gone(job: JobRecord) -> bool:
    """A queued job has no worker yet; a running one is orphaned when its process has died, or
    (another host, or a reused pid) when it has not reported for a long while."""
    if job.status == "queued" or not job.worker:
        return True
    host, _, pid = job.worker.partition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    heartbeat = job.heartbeat_at
    return heartbeat is None or datetime.now(timezone.utc) - heartbeat > _STALE_AFTER


def interrupted_jobs(settings: Settings) -> list[str]:
    """Ids of jobs left unfinished by a process that no longer runs (killed, crashed, rebooted)."""
    with session_scope(settings) as db:
        return [job.id for job in repo.unfinished_jobs(db) if _worker_is_gone(job)]
