"""The job runner: stages run in order, progress is persisted, failures are reported in plain words,
and a retry or resume continues from the first stage not completed."""

from __future__ import annotations

import pytest

from insightcap.audio.decode import MediaError
from insightcap.jobs import stages as stage_module
from insightcap.jobs.runner import interrupted_jobs, run_job
from insightcap.jobs.stages import Stage, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope


@pytest.fixture
def recorded_stages(monkeypatch: pytest.MonkeyPatch):
    """Replaces the real stages with ones that record their calls: these tests are about the runner."""
    calls: list[str] = []
    failing: set[str] = set()

    def make(name: str):
        def run(ctx: StageContext) -> None:
            calls.append(name)
            ctx.progress(0.5, f"{name} half way")
            if name in failing:
                raise MediaError(f"{name}: the file is not audio")

        return Stage(name, name.title(), run)

    monkeypatch.setattr(stage_module, "STAGES", {name: make(name) for name in stage_module.MEDIA_STAGES})
    monkeypatch.setattr("insightcap.jobs.runner.STAGES", stage_module.STAGES)
    return calls, failing


def _job(settings) -> tuple[str, str]:
    with session_scope(settings) as db:
        session = repo.create_session(db, session_id=repo.new_id(), title="t", source_kind="media",
                                      original_filename="a.wav", stored_path="media/a.wav")
        return session.id, repo.create_job(db, session.id, list(stage_module.MEDIA_STAGES)).id


def test_stages_run_in_order_and_progress_reaches_listener(settings, recorded_stages) -> None:
    calls, _ = recorded_stages
    session_id, job_id = _job(settings)
    heard: list[tuple[str, float]] = []
    job = run_job(settings, job_id, lambda stage, fraction, message: heard.append((stage, fraction)))
    assert job.status == "done"
    assert calls == stage_module.MEDIA_STAGES
    assert ("transcribe", 0.5) in heard and ("memo", 1.0) in heard
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id).status == "ready"


def test_failure_is_stored_in_plain_words_and_retry_continues_where_it_stopped(settings, recorded_stages) -> None:
    calls, failing = recorded_stages
    session_id, job_id = _job(settings)
    failing.add("structure")
    job = run_job(settings, job_id)
    assert job.status == "failed"
    assert "not audio" in job.error
    assert job.completed_stages == ["decode", "transcribe", "speakers"]
    with session_scope(settings) as db:
        assert repo.get_session(db, session_id).status == "failed"

    failing.clear()
    calls.clear()
    assert run_job(settings, job_id).status == "done"
    assert calls == ["structure", "embed", "memo"]


def test_unexpected_error_points_to_a_log_and_retry_command(settings, recorded_stages, monkeypatch) -> None:
    session_id, job_id = _job(settings)

    def explode(ctx: StageContext) -> None:
        raise ZeroDivisionError("boom")

    stage_module.STAGES["embed"] = Stage("embed", "Indexing insights", explode)
    job = run_job(settings, job_id)
    assert job.status == "failed"
    assert f"insightcap retry {session_id}" in job.error
    log_file = settings.data_dir / "logs" / f"job-{job_id}.log"
    assert "ZeroDivisionError" in log_file.read_text()


def test_only_jobs_whose_worker_is_gone_are_resumed(settings) -> None:
    import os
    import socket
    from datetime import datetime, timedelta, timezone

    _, job_id = _job(settings)
    assert job_id in interrupted_jobs(settings)  # queued and never started

    def set_worker(worker: str, heartbeat_age: timedelta) -> None:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.status, job.worker = "running", worker
            job.heartbeat_at = datetime.now(timezone.utc) - heartbeat_age

    set_worker(f"{socket.gethostname()}:{os.getpid()}", timedelta(seconds=1))
    assert job_id not in interrupted_jobs(settings)  # this very process is running it
    set_worker("another-host:123", timedelta(seconds=5))
    assert job_id not in interrupted_jobs(settings)  # another machine, still reporting
    set_worker("another-host:123", timedelta(hours=1))
    assert job_id in interrupted_jobs(settings)  # another machine that went silent
    set_worker(f"{socket.gethostname()}:999999", timedelta(seconds=1))
    assert job_id in interrupted_jobs(settings)  # killed process on this machine
