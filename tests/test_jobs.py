"""The job runner: stages run in order, progress is persisted, failures are reported in plain words,
and a retry or resume continues from the first stage not completed."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from insightcap.audio.decode import MediaError
from insightcap.cli.read import sessions
from insightcap.config import Settings
from insightcap.jobs import stages as stage_module
from insightcap.jobs.runner import JobUnavailable, interrupted_jobs, job_owner, run_job
from insightcap.jobs.runner import refused as refused_recording
from insightcap.jobs.stages import Stage, StageContext
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.folder_lock import other_server, serving
from insightcap.storage.statuses import JobStatus
from insightcap.storage.tables import JobRecord, RefusedRecording
from insightcap.web.views import job_out
from insightcap.weights import ModelUnavailable


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
                raise ModelUnavailable(f"{name}: the model is not installed")

        return Stage(name, name.title(), run)

    monkeypatch.setattr(stage_module, "STAGES", {name: make(name) for name in stage_module.MEDIA_STAGES})
    monkeypatch.setattr("insightcap.jobs.runner.STAGES", stage_module.STAGES)
    return calls, failing


def _job(settings) -> tuple[str, str]:
    """A queued job for a session whose stored original exists, named as store_original names it."""
    session_id = repo.new_id()
    stored = settings.media_dir / session_id / "original_a.wav"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"RIFF")
    with session_scope(settings) as db:
        repo.create_session(db, session_id=session_id, title="t", source_kind="media", original_filename="a.wav",
                            stored_path=str(stored.relative_to(settings.data_dir)))
        return session_id, repo.create_job(db, session_id, list(stage_module.MEDIA_STAGES)).id


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


def test_statuses_are_stored_and_printed_as_the_same_plain_strings(settings, recorded_stages, capsys) -> None:
    """The status enums name the strings the database, `sessions --json` and the API always held.
    (`job_out` is imported at the top: imported under recorded_stages, views would keep its stages.)"""
    session_id, job_id = _job(settings)
    run_job(settings, job_id)
    with session_scope(settings) as db:
        stored = db.execute(text("SELECT s.status, j.status FROM sessions s JOIN jobs j ON j.session_id = s.id")).one()
        assert tuple(stored) == ("ready", "done")
        job = repo.get_job(db, job_id)
        job.status = JobStatus.FAILED  # a member not yet read back, as the runner and a retry leave it
        assert json.loads(job_out(job).model_dump_json())["status"] == "failed"
    sessions(as_json=True)
    assert [(row["id"], row["status"]) for row in json.loads(capsys.readouterr().out)] == [(session_id, "ready")]


def test_failure_is_stored_in_plain_words_and_retry_continues_where_it_stopped(settings, recorded_stages) -> None:
    calls, failing = recorded_stages
    session_id, job_id = _job(settings)
    failing.add("structure")
    job = run_job(settings, job_id)
    assert job.status == "failed"
    assert "not installed" in job.error
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
    # The web job page shows this message too: the log is named within the data folder, not by the
    # server's path, which a browser's user may not know or reach.
    assert f"logs/job-{job_id}.log in insightcap's data folder" in job.error
    assert str(settings.data_dir) not in job.error
    log_file = settings.data_dir / "logs" / f"job-{job_id}.log"
    assert "ZeroDivisionError" in log_file.read_text()


def test_only_jobs_whose_worker_is_gone_are_resumed(settings) -> None:
    import os
    import socket
    from datetime import datetime, timedelta

    _, job_id = _job(settings)
    assert job_id in interrupted_jobs(settings)  # queued and never started

    def set_worker(worker: str, heartbeat_age: timedelta) -> None:
        with session_scope(settings) as db:
            job = repo.get_job(db, job_id)
            job.status, job.worker = "running", worker
            job.heartbeat_at = datetime.now(UTC) - heartbeat_age

    set_worker(f"{socket.gethostname()}:{os.getpid()}", timedelta(seconds=1))
    assert job_id not in interrupted_jobs(settings)  # this very process is running it
    set_worker("another-host:123", timedelta(seconds=5))
    assert job_id not in interrupted_jobs(settings)  # another machine, still reporting
    set_worker("another-host:123", timedelta(hours=1))
    assert job_id in interrupted_jobs(settings)  # another machine that went silent
    set_worker(f"{socket.gethostname()}:999999", timedelta(seconds=1))
    assert job_id in interrupted_jobs(settings)  # killed process on this machine


def test_a_stage_silent_for_longer_than_the_stale_period_keeps_its_job(settings, recorded_stages,
                                                                        monkeypatch) -> None:
    """A stage may report nothing for many minutes (a local generator wording every commitment): its
    job must still read as running here, or a second process would take it and run it twice."""
    import time
    from datetime import timedelta

    from insightcap.jobs import runner

    monkeypatch.setattr(runner, "_STALE_AFTER", timedelta(seconds=0.3))
    monkeypatch.setattr(runner, "_KEEPALIVE_SECONDS", 0.05)
    _, job_id = _job(settings)
    seen_by_others: list[str | None] = []

    def silent(ctx: StageContext) -> None:
        for _ in range(4):
            time.sleep(0.3)  # longer than the stale period each time, and no progress reported
            with session_scope(settings) as db:
                seen_by_others.append(job_owner(repo.get_job(db, job_id), server=None))

    stage_module.STAGES["structure"] = Stage("structure", "Finding insights", silent)
    assert run_job(settings, job_id).status == "done"
    assert seen_by_others == [runner._worker_id()] * 4
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("job-heartbeat-")]

    # Without the renewal the same silence reads as an orphaned job: the check above means something.
    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        job.status = JobStatus.RUNNING
        time.sleep(0.4)
        assert job_owner(job, server=None) is None


def test_the_heartbeat_stops_when_a_stage_fails(settings, recorded_stages, monkeypatch) -> None:
    from insightcap.jobs import runner

    monkeypatch.setattr(runner, "_KEEPALIVE_SECONDS", 0.01)
    _, failing = recorded_stages
    failing.add("speakers")
    _, job_id = _job(settings)
    assert run_job(settings, job_id).status == "failed"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("job-heartbeat-")]


def test_a_refused_recording_is_named_as_the_user_named_it_and_not_kept(settings, recorded_stages) -> None:
    calls, _ = recorded_stages
    session_id, job_id = _job(settings)

    def silent(ctx: StageContext) -> None:
        calls.append("decode")
        raise MediaError(f"{stage_module._media_path(ctx).name} contains no audible sound. Upload a recording with speech.")

    stage_module.STAGES["decode"] = Stage("decode", "Checking the recording", silent)
    job = run_job(settings, job_id)
    assert job.status == "failed"
    assert job.error == "a.wav contains no audible sound. Upload a recording with speech."
    assert not (settings.media_dir / session_id).exists()  # the large file goes at once
    with session_scope(settings) as db:  # and the session and its job with it: nothing can be made of them
        assert repo.list_sessions(db) == [] and db.get(JobRecord, job_id) is None
        # Only the reason stays, for the web app's job page and Sessions list, where it stopped.
        refused = repo.refusal(db, job_id)
        assert (refused.session_id, refused.title, refused.reason) == (session_id, "t", job.error)
        assert (refused.stage, refused.completed_stages) == ("decode", [])
    assert refused_recording(settings, job_id) and calls == ["decode"]


def test_a_refusal_is_kept_a_week(settings) -> None:
    (_, old_job), (_, new_job) = _job(settings), _job(settings)
    with session_scope(settings) as db:
        repo.record_refusal(db, repo.get_job(db, old_job), "old.wav contains no audible sound.")
        repo.refusal(db, old_job).refused_at = datetime.now(UTC) - repo.REFUSALS_KEPT - timedelta(minutes=1)
    with session_scope(settings) as db:
        assert repo.refusal(db, old_job) is None and repo.recent_refusals(db) == []
        repo.record_refusal(db, repo.get_job(db, new_job), "new.wav contains no audible sound.")
    with session_scope(settings) as db:  # recording one clears those past their week
        assert [row.job_id for row in db.scalars(select(RefusedRecording))] == [new_job]


def test_a_recording_no_longer_stored_is_not_run_again(settings, recorded_stages) -> None:
    """A session left from before refused recordings were deleted, or whose file went missing."""
    calls, _ = recorded_stages
    session_id, job_id = _job(settings)
    (settings.media_dir / session_id / "original_a.wav").unlink()
    job = run_job(settings, job_id)
    assert job.status == "failed" and "no longer stored" in job.error and "Upload another recording" in job.error
    assert calls == [] and not refused_recording(settings, job_id)


def test_a_fixable_failure_keeps_the_recording_for_retry(settings, recorded_stages) -> None:
    _, failing = recorded_stages
    session_id, job_id = _job(settings)
    failing.add("transcribe")
    assert run_job(settings, job_id).status == "failed"
    assert (settings.media_dir / session_id / "original_a.wav").exists()


def _serve_elsewhere(data_dir: Path) -> subprocess.Popen:
    """A process serving the data folder, as `insightcap serve` does, until its stdin closes."""
    script = ("import sys; from pathlib import Path; from insightcap.storage.folder_lock import serving\n"
              f"with serving(Path({str(data_dir)!r})):\n    print('serving', flush=True); sys.stdin.read()")
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline() == "serving\n"
    return server


def test_a_queued_job_is_left_to_the_running_server(settings) -> None:
    _, job_id = _job(settings)
    server = _serve_elsewhere(settings.data_dir)
    try:
        served_by = f"{socket.gethostname()}:{server.pid}"
        assert other_server(settings.data_dir) == served_by
        assert job_id not in interrupted_jobs(settings)  # the server's queue has it
        with session_scope(settings) as db:
            assert job_owner(repo.get_job(db, job_id), served_by) == served_by
    finally:
        server.stdin.close()
        server.wait()
    assert other_server(settings.data_dir) is None
    assert job_id in interrupted_jobs(settings)  # left by a server that stopped
    with serving(settings.data_dir):
        assert job_id in interrupted_jobs(settings)  # this process is the server: its own queue takes it


def test_a_job_is_run_by_one_process_only(settings, recorded_stages) -> None:
    """Claiming is atomic: of several workers taking the same queued job at once, one runs it."""
    calls, _ = recorded_stages
    _, job_id = _job(settings)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def take() -> None:
        start.wait()
        try:
            outcomes.append(run_job(settings, job_id).status)
        except JobUnavailable as taken:
            outcomes.append(str(taken))

    racers = [threading.Thread(target=take) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert outcomes.count("done") == 1, outcomes
    assert all("already finished" in outcome or "being processed right now" in outcome
               for outcome in outcomes if outcome != "done")
    assert calls == stage_module.MEDIA_STAGES  # every stage ran once
    with session_scope(settings) as db:
        assert repo.get_job(db, job_id).attempts == 1
    with pytest.raises(JobUnavailable, match="already finished"):
        run_job(settings, job_id)


def test_the_command_line_keeps_nothing_of_a_silent_recording(tmp_path: Path) -> None:
    from test_audio import run_ffmpeg
    from test_cli import cli, sessions

    silence = tmp_path / "silence.wav"
    run_ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "30", str(silence))
    data = tmp_path / "data"

    result = cli(data, "process", str(silence), check=False)

    assert result.returncode == 1
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert "silence.wav contains no audible sound" in message and "original_silence.wav" not in message
    assert sessions(data) == []
    assert not [path for path in (data / "media").rglob("*")]
    # The note of why stays a week, for the web's Sessions list, unless it is forgotten by the id named.
    session_id = re.search(r"insightcap forget (\w+)", message).group(1)
    forgotten = cli(data, "forget", session_id, "--yes")
    assert "Deleted the note of the refused recording." in forgotten.stdout
    with session_scope(Settings(data_dir=data)) as db:
        assert repo.recent_refusals(db) == []
    assert "No session" in cli(data, "forget", session_id, "--yes", check=False).stderr


def test_a_teams_export_gives_its_title_and_day_unless_the_user_gives_them(settings) -> None:
    from datetime import date

    from insightcap.jobs.intake import submit_transcript

    teams = Path(__file__).parent / "fixtures" / "transcripts" / "teams_transcript.txt"
    named_by_file = submit_transcript(teams, settings, program="Youth workers")
    named_by_user = submit_transcript(teams, settings, program="Other circle", title="Week 3",
                                      session_date=date(2024, 3, 13))
    with session_scope(settings) as db:
        by_file, by_user = (repo.get_session(db, s.session_id) for s in (named_by_file, named_by_user))
        assert (by_file.title, by_file.session_date) == ("Peer Learning Circle - Youth Workers", date(2024, 3, 12))
        assert (by_user.title, by_user.session_date) == ("Week 3", date(2024, 3, 13))


def test_the_same_file_is_added_once_per_program(settings, tmp_path: Path) -> None:
    from insightcap.jobs.intake import AlreadyAdded, submit_transcript

    original = Path(__file__).parent / "fixtures" / "transcripts" / "zoom.vtt"
    copy = tmp_path / "renamed.vtt"
    copy.write_bytes(original.read_bytes())
    first = submit_transcript(original, settings, title="Week 1", program="Mentoring cohort")
    with pytest.raises(AlreadyAdded, match=r"already added to Mentoring cohort on \d{4}-\d\d-\d\d, as the session "
                                            r"“Week 1”\. To process the file again, delete that session first\.$") as added:
        submit_transcript(copy, settings, title="Week 1 again", program="mentoring cohort")
    # The web app links to the session by its title and date; the command line names it by id too.
    assert (added.value.title, added.value.day) == ("Week 1", f"added {datetime.now(UTC).date().isoformat()}")
    assert added.value.fact.endswith(f"as the session “Week 1” ({first.session_id}).")
    other_program = submit_transcript(copy, settings, program="Spring circle")
    with session_scope(settings) as db:
        assert {record.id for record in repo.list_sessions(db)} == {first.session_id, other_program.session_id}
    assert sorted(path.name for path in settings.media_dir.iterdir()) == sorted([first.session_id,
                                                                                 other_program.session_id])
