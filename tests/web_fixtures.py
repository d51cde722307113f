"""Fixtures for the web app tests: an app on a throw-away data dir whose queue only records jobs,
clients signed in as an admin (API token) or as other accounts, and a session seeded from a real
Zoom transcript with insights and a first memo version."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insightcap.auth.accounts import add_user
from insightcap.auth.schema import Role
from insightcap.auth.tokens import issue
from insightcap.insights.schema import Insight, Section, SessionInsights, Topic
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.transcript.importers import import_transcript

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ZOOM_VTT = FIXTURES / "transcripts" / "zoom.vtt"
FIRST_MEMO = "# Feedback that lands\n\n## Themes\n\n- Long emails overwhelm mentees.\n"


class RecordingQueue:
    """Keeps submitted job ids instead of running them: these tests are about the web layer."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


PASSWORD = "a long enough password"


def make_account(settings, email: str, role: Role, programs: tuple[str, ...] = ()) -> str:
    """A real account (argon2-hashed password) and an API token for it."""
    with session_scope(settings) as db:
        user = add_user(db, email, PASSWORD, role, programs)
        return issue(db, user, "api", name="tests")


@pytest.fixture
def app(settings, queue):
    from insightcap.web.app import create_app

    return create_app(settings, queue=queue, max_upload_bytes=2 * 1024 * 1024)


@pytest.fixture
def anonymous(app):
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(app, settings):
    """Signed in as an admin with an API token (no cookies, so no CSRF token is needed)."""
    token = make_account(settings, "admin@example.org", Role.ADMIN)
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client


@pytest.fixture
def seeded_session(settings) -> str:
    """A processed session: real imported transcript, two insights quoting it, memo version 1."""
    transcript = import_transcript(ZOOM_VTT)
    opening, email = transcript.segments[0], transcript.segments[1]
    insights = SessionInsights(
        topics=[Topic(index=0, title="Giving feedback", start=0.0, end=transcript.duration)],
        insights=[
            Insight(section=Section.CONTEXT, statement="The session is about feedback that lands.",
                    quote=opening.text, speaker=opening.speaker, start=opening.start, end=opening.end,
                    topic_index=0),
            Insight(section=Section.REACTION, statement="A long email of problems got no reply for a week.",
                    quote=email.text, speaker=email.speaker, start=email.start, end=email.end, topic_index=0),
        ],
    )
    with session_scope(settings) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title="Feedback circle", source_kind="transcript",
                                     original_filename="zoom.vtt", stored_path="media/none/zoom.vtt",
                                     program="Mentoring cohort")
        record.status, record.duration_seconds = "ready", transcript.duration
        repo.save_output(db, record.id, "transcript", transcript)
        repo.save_output(db, record.id, "insights", insights)
        repo.replace_insights(db, record.id, insights)
        repo.add_memo_version(db, record.id, FIRST_MEMO)
        return record.id
