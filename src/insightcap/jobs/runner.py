"""Runs a persisted job stage by stage, recording progress, so a killed process can be resumed.

User-facing failures (bad media, bad transcript file, missing model) are stored as plain-words
errors on the job; a recording refused as unusable is deleted with its session, as nothing can be made
of it, and only the reason is kept a while (repo.record_refusal), for whoever was not watching. Anything
unexpected is logged with its traceback under the data directory and reported with a pointer to that
log. Nothing half-done is marked complete.

A job is run by one process at a time: a running job belongs to its worker until that process dies,
and a queued one to the server running on the data folder (see storage.folder_lock), if any.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from insightcap.config import Settings
from insightcap.error_log import log_traceback
from insightcap.jobs.stages import STAGES, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.folder_lock import other_server, working
from insightcap.storage.statuses import JobStatus, SessionStatus
from insightcap.storage.tables import JobRecord, SessionRecord

log = logging.getLogger(__name__)

# Called with (stage name, fraction of that stage 0..1, message) as a job advances.
JobListener = Callable[[str, float, str], None]

_HEARTBEAT_SECONDS = 2.0
# How often a running job's heartbeat is renewed whatever its stage reports: well within _STALE_AFTER.
_KEEPALIVE_SECONDS = 30.0
RECORDING_NOT_KEPT = ("The recording was refused and is no longer stored, so it cannot be processed again. "
                      "Upload another recording.")
_STALE_AFTER = timedelta(minutes=10)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobUnavailable(Exception):
    """The job has finished, or another live process is running it; the message says which."""


def input_errors() -> tuple[type[Exception], ...]:
    """Exceptions that blame the file itself (not audio, no speech, not a transcript): running it
    again cannot help, unlike after a missing model or a broken template is fixed."""
    from insightcap.audio.decode import MediaError
    from insightcap.transcript.importers import TranscriptFormatError

    return (MediaError, TranscriptFormatError)


def user_facing_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message is written for the user (bad input, a file added twice, missing model)."""
    from insightcap.jobs.intake import AlreadyAdded
    from insightcap.memo.render import MemoTemplateError
    from insightcap.weights import ModelUnavailable

    return (*input_errors(), AlreadyAdded, ModelUnavailable, MemoTemplateError)


class _ProgressRecorder:
    """Writes a stage's progress to the job row at most every couple of seconds (a heartbeat too,
    besides the one _keeping_alive renews while the stage is silent)."""

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
                job.heartbeat_at = datetime.now(UTC)


@contextmanager
def _keeping_alive(settings: Settings, job_id: str) -> Iterator[None]:
    """Renew the job's heartbeat every _KEEPALIVE_SECONDS for the block, from a thread of its own.

    A stage can be silent for many minutes (a local generator wording every commitment of a long
    session); if the heartbeat moved only with progress, another process would take the job for
    orphaned after _STALE_AFTER and run it a second time. Only the row this process still runs is
    touched, one short statement at a time.
    """
    stopped = threading.Event()
    worker = _worker_id()

    def beat() -> None:
        while not stopped.wait(_KEEPALIVE_SECONDS):
            try:
                with session_scope(settings) as db:
                    db.execute(update(JobRecord)
                               .where(JobRecord.id == job_id, JobRecord.worker == worker,
                                      JobRecord.status == JobStatus.RUNNING)
                               .values(heartbeat_at=datetime.now(UTC)))
            except Exception:  # a database busy past its timeout: the next beat tries again
                log.warning("could not renew the heartbeat of job %s", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


def _claim(settings: Settings, job_id: str) -> tuple[str, list[str]]:
    """Take the job for this process; returns its session and the stages still to run. Raises
    JobUnavailable if it has finished or a live process runs it. A queued job is taken: its caller
    was handed it (by a queue, or by the command that made it)."""
    with session_scope(settings) as db:
        # The write lock first: no other process can claim the job between the check and the update.
        db.connection().exec_driver_sql("BEGIN IMMEDIATE")
        job = repo.get_job(db, job_id)
        if job.status == JobStatus.DONE:
            raise JobUnavailable(f"Job {job_id} has already finished.")
        if worker := job_owner(job, server=None):
            raise JobUnavailable(f"Job {job_id} is being processed right now (stage: {job.stage or 'starting'}) by "
                                 f"process {worker}. Wait until it has finished or failed "
                                 "(`insightcap sessions` shows its status).")
        job.status, job.error, job.attempts = JobStatus.RUNNING, None, job.attempts + 1
        job.worker, job.heartbeat_at = _worker_id(), datetime.now(UTC)
        repo.get_session(db, job.session_id).status = SessionStatus.PROCESSING
        return job.session_id, [stage for stage in job.stages if stage not in job.completed_stages]


def _finish_stage(settings: Settings, job_id: str, stage: str) -> None:
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        job.completed_stages = [*job.completed_stages, stage]
        job.progress = 1.0


def _mark_failed(db: Session, job: JobRecord, message: str) -> None:
    job.status, job.error = JobStatus.FAILED, message
    repo.get_session(db, job.session_id).status = SessionStatus.FAILED


def _fail(settings: Settings, job_id: str, message: str) -> None:
    with session_scope(settings) as db:
        _mark_failed(db, repo.get_job(db, job_id), message)


def _reject(settings: Settings, job_id: str, message: str) -> None:
    """The file itself is unusable: fail with the user's own file name (the messages name the stored
    copy), and keep that reason as a refusal in the same transaction, so no reader sees the failure
    without it (and offers a retry). run_job then deletes the session whole (_forget_refused)."""
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        record = repo.get_session(db, job.session_id)
        reason = message.replace(Path(record.stored_path).name, record.original_filename)
        _mark_failed(db, job, reason)
        repo.record_refusal(db, job, reason)


def _forget_refused(settings: Settings, session_id: str) -> None:
    """Delete the session of a refused recording whole, as `insightcap forget` does: nothing can be
    made of it, and kept it would be a dead "Failed" entry in Sessions and in its program's themes."""
    from insightcap.forget import forget_session  # it imports this module

    try:
        forget_session(settings, session_id)
    except Exception:  # the reason is stored and shown either way; the session stays, to delete by hand
        log.exception("could not delete session %s after its recording was refused", session_id)


def refused(settings: Settings, job_id: str) -> bool:
    """Whether the job's recording was refused as unusable (and its session deleted)."""
    with session_scope(settings) as db:
        return repo.refusal(db, job_id) is not None


def recording_missing(settings: Settings, record: SessionRecord) -> bool:
    """Whether a recorded session's stored original is gone (lost from the data folder, or refused by a
    version that kept refused sessions): its job cannot run again, and there is nothing to play."""
    return record.source_kind == "media" and not (settings.data_dir / record.stored_path).exists()


def original_discarded(settings: Settings, session_id: str) -> bool:
    """recording_missing, for a session named by its id."""
    with session_scope(settings) as db:
        return recording_missing(settings, repo.get_session(db, session_id))


def run_job(settings: Settings, job_id: str, listener: JobListener | None = None) -> JobRecord:
    """Run every stage of the job not completed yet; returns the job as it ended. A job whose recording
    was refused ends failed with its session (and so its job) deleted: the returned record is a copy.

    Raises JobUnavailable if another live process runs it, and FolderBusy while a restore replaces
    the data folder.
    """
    with working(settings.data_dir):
        session_id, remaining = _claim(settings, job_id)
        if original_discarded(settings, session_id):
            _fail(settings, job_id, RECORDING_NOT_KEPT)
        else:
            with _keeping_alive(settings, job_id):
                _run_stages(settings, job_id, session_id, remaining, listener)
        with session_scope(settings) as db:
            finished = repo.get_job(db, job_id)
            was_refused = finished.status == JobStatus.FAILED and repo.refusal(db, job_id) is not None
        if was_refused:
            _forget_refused(settings, session_id)
    return finished


def _run_stages(
    settings: Settings, job_id: str, session_id: str, remaining: list[str], listener: JobListener | None
) -> None:
    for stage_name in remaining:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.stage, job.progress, job.message = stage_name, 0.0, STAGES[stage_name].label
        recorder = _ProgressRecorder(settings, job_id, stage_name, listener)
        recorder(0.0, STAGES[stage_name].label)  # listeners see the stage start, not only its first report
        try:
            STAGES[stage_name].run(StageContext(settings=settings, session_id=session_id, progress=recorder))
        except input_errors() as error:
            _reject(settings, job_id, str(error))
            break
        except user_facing_errors() as error:
            _fail(settings, job_id, str(error))
            break
        except Exception as error:  # an internal fault: keep the traceback, tell the user where it is
            log_path = log_traceback(log, settings.job_log(job_id), "job %s failed", job_id)
            # Shown on the web job page too, whose reader may not run the server: the log is named
            # within the data folder, as the web's own error page names its log.
            _fail(
                settings,
                job_id,
                f"{STAGES[stage_name].label} failed unexpectedly ({error.__class__.__name__}: {error}). "
                f"Details are in {log_path.relative_to(settings.data_dir).as_posix()} in insightcap's data folder. "
                f"Retry with `insightcap retry {session_id}` or the Retry button.",
            )
            break
        recorder(1.0, "done")
        _finish_stage(settings, job_id, stage_name)
    else:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.status, job.stage, job.message = JobStatus.DONE, None, "done"
            repo.get_session(db, session_id).status = SessionStatus.READY


def _worker_is_gone(job: JobRecord) -> bool:
    """A running job is orphaned when its process has died, or (another host, or a reused pid) when
    its heartbeat, renewed every _KEEPALIVE_SECONDS while it runs, has not moved for a long while."""
    if not job.worker:
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
    return heartbeat is None or datetime.now(UTC) - heartbeat > _STALE_AFTER


def job_owner(job: JobRecord, server: str | None) -> str | None:
    """The live process ("host:pid") an unfinished job belongs to, or None when it is free to run here.

    A running job is its worker's until that process is gone. A queued job is `server`'s (another
    process serving the data folder, see `other_server`): that server's queue holds it, or its next
    start will; with no server, a queued job was left by one that stopped, or by a killed command.
    """
    if job.status == JobStatus.RUNNING and not _worker_is_gone(job):
        return job.worker
    if job.status == JobStatus.QUEUED:
        return server
    return None


def interrupted_jobs(settings: Settings) -> list[str]:
    """Ids of unfinished jobs no live process will run: left by a process that no longer runs
    (killed, crashed, rebooted), or queued with no server running to take them."""
    return list(interrupted_sessions(settings))


def interrupted_sessions(settings: Settings) -> dict[str, str]:
    """Job id → session id of the interrupted jobs (interrupted_jobs): their sessions say "processing"
    while nothing is processing them, until `insightcap resume` (or the next `process`, `import` or
    server start) takes them up."""
    server = other_server(settings.data_dir)
    with session_scope(settings) as db:
        return {job.id: job.session_id for job in repo.unfinished_jobs(db) if job_owner(job, server) is None}
