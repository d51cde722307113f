"""The one storage layer: every read and write of sessions, stage outputs, insights, memos and jobs."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from insightcap.insights.schema import SessionInsights
from insightcap.storage.tables import InsightRecord, JobRecord, MemoVersion, Program, SessionRecord, StageOutput

ModelT = TypeVar("ModelT", bound=BaseModel)


class NotFound(LookupError):
    """No such session/job; the message says how to list the ones that exist."""


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def get_or_create_program(db: Session, name: str | None) -> Program | None:
    if not name:
        return None
    program = db.scalar(select(Program).where(Program.name == name))
    if program is None:
        program = Program(name=name)
        db.add(program)
        db.flush()
    return program


def create_session(
    db: Session,
    *,
    session_id: str,
    title: str,
    source_kind: str,
    original_filename: str,
    stored_path: str,
    program: str | None = None,
    session_date: date | None = None,
) -> SessionRecord:
    record = SessionRecord(
        id=session_id,
        title=title,
        source_kind=source_kind,
        original_filename=original_filename,
        stored_path=stored_path,
        program=get_or_create_program(db, program),
        session_date=session_date,
        speaker_names={},
    )
    db.add(record)
    db.flush()
    return record


def get_session(db: Session, session_ref: str) -> SessionRecord:
    """A session by id or by an unambiguous id prefix (users copy the first few characters)."""
    record = db.get(SessionRecord, session_ref)
    if record is not None:
        return record
    matches = db.scalars(select(SessionRecord).where(SessionRecord.id.startswith(session_ref))).all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"'{session_ref}' matches {len(matches)} sessions; give more characters of the id.")
    raise NotFound(f"No session '{session_ref}'. Run `insightcap sessions` to list them.")


def list_sessions(db: Session) -> list[SessionRecord]:
    return list(db.scalars(select(SessionRecord).order_by(SessionRecord.created_at.desc())))


def save_output(db: Session, session_id: str, stage: str, output: BaseModel) -> None:
    db.merge(StageOutput(session_id=session_id, stage=stage, payload=output.model_dump_json()))
    db.flush()


def load_output(db: Session, session_id: str, stage: str, model: type[ModelT]) -> ModelT | None:
    row = db.get(StageOutput, (session_id, stage))
    return None if row is None else model.model_validate_json(row.payload)


def replace_insights(db: Session, session_id: str, insights: SessionInsights) -> list[InsightRecord]:
    """Insight rows mirror the structure output; re-running the stage replaces them, never duplicates."""
    db.execute(delete(InsightRecord).where(InsightRecord.session_id == session_id))
    rows = [
        InsightRecord(
            session_id=session_id,
            position=position,
            section=insight.section.value,
            statement=insight.statement,
            quote=insight.quote,
            speaker=insight.speaker,
            start=insight.start,
            end=insight.end,
            topic_index=insight.topic_index,
        )
        for position, insight in enumerate(insights.insights)
    ]
    db.add_all(rows)
    db.flush()
    return rows


def session_insight_rows(db: Session, session_id: str) -> list[InsightRecord]:
    return list(
        db.scalars(select(InsightRecord).where(InsightRecord.session_id == session_id).order_by(InsightRecord.position))
    )


def all_insight_ids(db: Session) -> set[int]:
    return set(db.scalars(select(InsightRecord.id)))


def latest_memo(db: Session, session_id: str) -> MemoVersion | None:
    return db.scalar(
        select(MemoVersion).where(MemoVersion.session_id == session_id).order_by(MemoVersion.version.desc()).limit(1)
    )


def add_memo_version(
    db: Session, session_id: str, markdown: str, *, status: str = "draft", author: str = "insightcap"
) -> MemoVersion:
    current = db.scalar(select(func.max(MemoVersion.version)).where(MemoVersion.session_id == session_id)) or 0
    version = MemoVersion(session_id=session_id, version=current + 1, markdown=markdown, status=status, author=author)
    db.add(version)
    db.flush()
    return version


def create_job(db: Session, session_id: str, stages: list[str]) -> JobRecord:
    job = JobRecord(id=new_id(), session_id=session_id, stages=stages, completed_stages=[], status="queued")
    db.add(job)
    db.flush()
    return job


def get_job(db: Session, job_id: str) -> JobRecord:
    job = db.get(JobRecord, job_id)
    if job is None:
        raise NotFound(f"No job '{job_id}'.")
    return job


def unfinished_jobs(db: Session) -> list[JobRecord]:
    """Jobs a killed process left queued or running: the next start resumes them."""
    return list(
        db.scalars(select(JobRecord).where(JobRecord.status.in_(["queued", "running"])).order_by(JobRecord.created_at))
    )


def jobs_for_session(db: Session, session_id: str) -> list[JobRecord]:
    return list(db.scalars(select(JobRecord).where(JobRecord.session_id == session_id).order_by(JobRecord.created_at)))
