"""The real `insightcap` process killed with SIGKILL in the middle of a job, then resumed: nothing is
lost and nothing is stored twice, and the search indexes agree with the database."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from test_cli import EXAMPLES, cli

from insightcap.config import Settings
from insightcap.insights.schema import SessionInsights
from insightcap.jobs.stages import MEDIA_STAGES, TRANSCRIPT_STAGES
from insightcap.search.indexing import vector_index_path
from insightcap.search.passages import build_passages
from insightcap.themes.index import VectorIndex
from insightcap.transcript.schema import Transcript

TRANSCRIPTS = Path(__file__).resolve().parent / "fixtures" / "transcripts"


@dataclass(frozen=True)
class Crash:
    args: tuple[str, ...]
    stages: list[str]
    stage: str
    # True (a row) once the process has got to where it is to be killed.
    ready_sql: str
    # Hold the vector index's lock, as the web app does while it updates the index: the worker then
    # waits after committing its rows and before updating the index, the moment they could diverge.
    hold_index_lock: bool = False


CRASHES = {
    "mid-transcription": Crash(
        ("process", str(EXAMPLES / "team-retrospective.ogg")), MEDIA_STAGES, "transcribe",
        "SELECT 1 FROM jobs WHERE stage = 'transcribe'",
    ),
    "mid-embedding": Crash(
        ("import", str(TRANSCRIPTS / "teams.vtt"), "--program", "Peer circle"), TRANSCRIPT_STAGES, "embed",
        "SELECT 1 FROM jobs WHERE stage = 'embed' AND EXISTS (SELECT 1 FROM passages)",
        hold_index_lock=True,
    ),
}


def query(data: Path, sql: str) -> list[tuple]:
    if not (data / "insightcap.db").exists():
        return []
    try:
        with closing(sqlite3.connect(data / "insightcap.db")) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is not created yet
        return []


@contextmanager
def index_lock_held(data: Path) -> Iterator[None]:
    lock_path = vector_index_path(Settings(data_dir=data)).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def kill_when_ready(data: Path, crash: Crash, timeout: float = 120) -> None:
    """Run the command and SIGKILL it as soon as `crash.ready_sql` finds a row."""
    env = {**os.environ, "INSIGHTCAP_DATA_DIR": str(data), "INSIGHTCAP_ASR_MODEL": "whisper-tiny-en",
           "INSIGHTCAP_GENERATOR": "none"}
    worker = subprocess.Popen([sys.executable, "-m", "insightcap", *crash.args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not query(data, crash.ready_sql):
            assert worker.poll() is None, f"the job ended before reaching {crash.stage}"
            assert time.monotonic() < deadline, f"the job did not reach {crash.stage} in {timeout:.0f} s"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def assert_resumed_consistently(data: Path, crash: Crash, original: Path) -> None:
    [(session_id, stored_path)] = query(data, "SELECT id, stored_path FROM sessions")
    assert query(data, "SELECT status, completed_stages FROM jobs") == [("done", json.dumps(crash.stages))]
    assert query(data, "SELECT count(*) FROM memo_versions") == [(1,)]
    outputs = dict(query(data, "SELECT stage, payload FROM stage_outputs"))
    assert sorted(outputs) == ["insights", "memo", "transcript"]

    # Exactly one row per passage of the transcript and per insight of the structure output.
    transcript = Transcript.model_validate_json(outputs["transcript"])
    insights = SessionInsights.model_validate_json(outputs["insights"])
    assert query(data, "SELECT count(*) FROM passages") == [(len(build_passages(transcript)),)]
    assert query(data, "SELECT count(*) FROM insights") == [(len(insights.insights),)]
    # Both indexes hold every row's key once, and nothing else.
    live = {key for (key,) in query(data, "SELECT id * 2 FROM passages UNION ALL SELECT id * 2 + 1 FROM insights")}
    fts = [key for (key,) in query(data, "SELECT rowid FROM search_text")]
    vectors = VectorIndex(vector_index_path(Settings(data_dir=data))).ids()
    assert sorted(fts) == sorted(vectors) == sorted(live)
    members = query(data, "SELECT kind, row_id FROM theme_members")
    assert all(query(data, f"SELECT 1 FROM {kind}s WHERE id = {row_id}") for kind, row_id in members)

    # No orphan or half-written file: the one original, byte-identical, is all the media folder holds.
    assert [path for path in (data / "media").rglob("*") if path.is_file()] == [data / stored_path]
    assert (data / stored_path).read_bytes() == original.read_bytes()
    assert not [path for path in data.rglob("*") if path.suffix == ".partial" or path.name.startswith(".incoming-")]
    assert session_id in stored_path


@pytest.mark.slow
@pytest.mark.parametrize("crash", CRASHES.values(), ids=CRASHES.keys())
def test_a_job_killed_mid_stage_resumes_without_duplicates(tmp_path: Path, crash: Crash) -> None:
    data = tmp_path / "data"
    with index_lock_held(data) if crash.hold_index_lock else nullcontext():
        kill_when_ready(data, crash)
    assert query(data, "SELECT status, stage FROM jobs") == [("running", crash.stage)]

    cli(data, "resume")

    assert_resumed_consistently(data, crash, Path(crash.args[1]))


@contextmanager
def serving(data: Path) -> Iterator[subprocess.Popen]:
    """The real `insightcap serve` on `data`, once it answers; killed with SIGKILL at the end if still running."""
    from web_fixtures import make_account

    from insightcap.auth.schema import Role

    make_account(Settings(data_dir=data), "admin@example.org", Role.ADMIN)  # without one, serve refuses to start
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "INSIGHTCAP_DATA_DIR": str(data), "INSIGHTCAP_GENERATOR": "none"}
    server = subprocess.Popen([sys.executable, "-m", "insightcap", "serve", "--port", str(port)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/api/health"):
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield server
    finally:
        server.kill()
        server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_running_server_keeps_its_queue_and_its_folder_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    from insightcap.jobs.intake import submit_transcript
    from insightcap.jobs.runner import interrupted_jobs
    from insightcap.storage.backup import backup, restore

    data = tmp_path / "data"
    settings = Settings(data_dir=data, generator="none")
    with serving(data) as server:
        archive = backup(settings, tmp_path / "backups").archive
        # An upload waiting in the server's queue (the server's worker is busy, say).
        queued = submit_transcript(TRANSCRIPTS / "teams.vtt", settings)
        served_by = f"{socket.gethostname()}:{server.pid}"

        assert cli(data, "resume").stdout.strip() == "Nothing to resume."
        retried = cli(data, "retry", queued.session_id, check=False)
        assert retried.returncode == 1
        assert f"waiting in the queue of the running server (insightcap serve, {served_by})" in " ".join(retried.stderr.split())
        assert query(data, "SELECT status, attempts FROM jobs") == [("queued", 0)]  # nobody took it over

        restored = cli(data, "restore", "--force", str(archive), check=False)
        assert restored.returncode == 1
        assert "insightcap serve is running on" in restored.stderr and "Stop it first" in restored.stderr
        assert not list(tmp_path.glob("data.before-restore-*"))

        server.send_signal(signal.SIGKILL)
        server.wait()

    # The OS released the killed server's locks: its queue is now free to resume, its folder to restore.
    assert interrupted_jobs(settings) == [queued.job_id]
    assert restore(settings, archive, force=True).previous_data_dir is not None
