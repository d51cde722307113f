"""The database tables. SQLite by default; the schema is created and upgraded by Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from insightcap.storage.statuses import JobStatus, MemoStatus, SessionStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC. SQLite keeps no time zone, so values come back marked as UTC again: code and
    the API then never mix naive and aware datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    pass


class Program(Base):
    """A peer-learning group or cohort; sessions belong to one."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    sessions: Mapped[list[SessionRecord]] = relationship(back_populates="program")


class SessionRecord(Base):
    """One recorded (or imported) session. `status` mirrors its processing job for quick listing."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300))
    session_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=SessionStatus.QUEUED)  # a SessionStatus
    source_kind: Mapped[str] = mapped_column(String(20))  # "media" or "transcript"
    original_filename: Mapped[str] = mapped_column(String(500))
    # Relative to the data directory, so a data directory can be moved or restored elsewhere.
    stored_path: Mapped[str] = mapped_column(String(500))
    # sha256 of the file as added, to refuse adding the same recording twice (sessions added before
    # migration 0009 have none).
    content_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(String(16))
    # "Speaker 1" -> "Maria": applied wherever a speaker is shown, so a rename happens once.
    speaker_names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Everyone who speaks in the transcript, by label in order of first speaking: kept with each saved
    # transcript so that listing sessions does not read every transcript (megabytes each).
    speakers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # How many people speak, when the user said so (`--speakers N`: both equal): diarization keeps
    # its speaker count within these, and a retried or resumed job still knows them.
    min_speakers: Mapped[int | None] = mapped_column(Integer)
    max_speakers: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    program: Mapped[Program | None] = relationship(back_populates="sessions")


class StageOutput(Base):
    """Each stage's typed output as JSON, so a failed later stage can be retried without redoing this one."""

    __tablename__ = "stage_outputs"

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class InsightRecord(Base):
    """Insights as rows (not only inside the JSON output) so they can be searched, embedded and indexed."""

    __tablename__ = "insights"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(20), index=True)
    statement: Mapped[str] = mapped_column(Text)
    quote: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(200))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    topic_index: Mapped[int] = mapped_column(Integer)
    # As on passages: the configured model's vector for themes, the search encoder's for search.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    search_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)


class MemoVersion(Base):
    """Every saved memo is a new row: an edit is never lost, any version can be restored."""

    __tablename__ = "memo_versions"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    markdown: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=MemoStatus.DRAFT)  # a MemoStatus
    author: Mapped[str] = mapped_column(String(200), default="insightcap")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Who approved this text and when: often not its author, and cleared when it is reopened.
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class JobRecord(Base):
    """A persisted processing job: which stages are done, which is running, how far, and any error."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)  # a JobStatus
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    stages: Mapped[list[str]] = mapped_column(JSON)
    completed_stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Which process runs the job ("host:pid") and when it last reported: a job whose worker is gone
    # is resumed by the next start, one whose worker is alive is left alone.
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class RefusedRecording(Base):
    """What is left of a recording refused as unusable (no sound, no speech, not audio): its session,
    file and job are deleted at once, as nothing can be made of them, but the user was not always
    watching. The reason stays a while, for the job page and the Sessions list, named by its job."""

    __tablename__ = "refused_recordings"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The session it would have been (deleted): the job page's links and the API name it.
    session_id: Mapped[str] = mapped_column(String(32))
    # Who may read the reason: the program's facilitators, as for the session itself.
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    # The job's stages as it stopped, so its page still shows where.
    stages: Mapped[list[str]] = mapped_column(JSON)
    completed_stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    stage: Mapped[str | None] = mapped_column(String(32))
    refused_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
