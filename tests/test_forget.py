"""Forgetting a session: after it, nothing of the session is left to find, in any index or file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from insightcap.config import Settings
from insightcap.forget import ForgetRefused, forget_session
from insightcap.jobs.intake import submit_transcript
from insightcap.jobs.runner import run_job
from insightcap.search.documents import session_keys
from insightcap.search.hybrid import search
from insightcap.search.indexing import vector_index_path
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.search_tables import ThemeMemberRecord
from insightcap.themes.index import VectorIndex

TRANSCRIPTS = Path(__file__).resolve().parent / "fixtures" / "transcripts"
PROGRAM = "Mentoring circle"
# Said only in zoom.vtt, the session the tests forget.
UNIQUE_PHRASE = "long email with every problem"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Two real caption files imported through the real pipeline once; tests work on copies."""
    folder = tmp_path_factory.mktemp("imported") / "data"
    settings = Settings(data_dir=folder, generator="none")
    session_ids = {}
    for name, day in (("teams.vtt", date(2026, 10, 1)), ("zoom.vtt", date(2026, 10, 8))):
        submitted = submit_transcript(TRANSCRIPTS / name, settings, program=PROGRAM, session_date=day)
        assert run_job(settings, submitted.job_id).status == "done"
        session_ids[name] = submitted.session_id
    return folder, session_ids


@pytest.fixture
def data_copy(imported: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    folder, session_ids = imported
    shutil.copytree(folder, tmp_path / "data")
    return Settings(data_dir=tmp_path / "data", generator="none"), session_ids


def _data_bytes(settings: Settings) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(settings.data_dir.glob("insightcap.db*")))


@pytest.mark.slow
def test_a_forgotten_session_is_gone_from_search_files_themes_and_the_database_file(data_copy) -> None:
    settings, ids = data_copy
    forgotten, kept = ids["zoom.vtt"], ids["teams.vtt"]
    with session_scope(settings) as db:
        keys = set(session_keys(db, forgotten))
        kept_before = (len(session_keys(db, kept)), len(repo.memo_versions(db, kept)))
        members = list(db.scalars(select(ThemeMemberRecord.session_id)))
    for mode in ("keyword", "semantic", "hybrid"):
        assert search(settings, UNIQUE_PHRASE, mode=mode)[0].session_id == forgotten
    assert forgotten in members, "the forgotten session should have been part of a theme"
    assert UNIQUE_PHRASE.encode() in _data_bytes(settings)
    stored = sorted(path.relative_to(settings.data_dir) for path in settings.media_dir.rglob("*") if path.is_file())

    report = forget_session(settings, forgotten[:6])

    assert (report.session_id, report.program) == (forgotten, PROGRAM)
    assert report.insights > 0 and report.passages > 0 and report.memo_versions == 1
    assert report.files_removed == [f"media/{forgotten}"]
    assert not (settings.media_dir / forgotten).exists()
    assert sorted(path.relative_to(settings.data_dir) for path in settings.media_dir.rglob("*") if path.is_file()) == [
        path for path in stored if path.parts[1] == kept
    ]
    for mode in ("keyword", "semantic", "hybrid"):
        hits = search(settings, UNIQUE_PHRASE, mode=mode)
        assert all(hit.session_id == kept for hit in hits)
    assert not keys & set(VectorIndex(vector_index_path(settings)).ids())
    with session_scope(settings) as db:
        assert db.execute(text("SELECT count(*) FROM search_text WHERE search_text MATCH 'email'")).scalar() == 0
        for table in ("stage_outputs", "insights", "passages", "memo_versions", "jobs", "theme_members"):
            left = db.execute(text(f"SELECT count(*) FROM {table} WHERE session_id = :id"), {"id": forgotten}).scalar()
            assert left == 0, table
        assert all(theme.session_ids == [kept] for theme in _themes(settings))
        assert (len(session_keys(db, kept)), len(repo.memo_versions(db, kept))) == kept_before
        assert repo.get_session(db, kept).status == "ready"
        with pytest.raises(repo.NotFound):
            repo.get_session(db, forgotten)
    # Not even in free pages of the database file or in its write-ahead log.
    assert UNIQUE_PHRASE.encode() not in _data_bytes(settings)
    assert search(settings, "volunteers drop off after the second week")[0].session_id == kept


def _themes(settings: Settings):
    from insightcap.themes.program import list_program_themes

    return list_program_themes(settings, PROGRAM)


def _add_running_job(settings: Settings, session_id: str, worker: str) -> None:
    with session_scope(settings) as db:
        job = repo.create_job(db, session_id, ["structure", "embed", "memo"])
        job.status, job.stage, job.worker = "running", "embed", worker
        job.heartbeat_at = datetime.now(UTC)


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


@pytest.mark.slow
def test_a_session_a_live_process_works_on_is_refused_and_a_stale_job_is_not(data_copy) -> None:
    settings, ids = data_copy
    _add_running_job(settings, ids["zoom.vtt"], f"{socket.gethostname()}:{os.getpid()}")
    with pytest.raises(ForgetRefused, match="being processed right now"):
        forget_session(settings, ids["zoom.vtt"])
    with session_scope(settings) as db:
        assert repo.get_session(db, ids["zoom.vtt"]).status == "ready"
    assert (settings.media_dir / ids["zoom.vtt"]).is_dir()

    _add_running_job(settings, ids["teams.vtt"], f"{socket.gethostname()}:{_dead_pid()}")
    assert forget_session(settings, ids["teams.vtt"]).session_id == ids["teams.vtt"]
    with pytest.raises(repo.NotFound, match="insightcap sessions"):
        forget_session(settings, ids["teams.vtt"])
