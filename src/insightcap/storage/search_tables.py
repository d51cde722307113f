"""Tables for search and themes across sessions, on the same `Base` as the core tables.

Passages are derived from a session's transcript and themes from its embeddings, so every row here
can be recomputed from the core tables; they are stored so search and theme pages need no model.
The keyword index (`search_text`, SQLite FTS5) is created by migration 0002 and kept in step with
`passages` and `insights` by triggers.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from insightcap.storage.tables import Base, UtcDateTime, utcnow


class PassageRecord(Base):
    """A window of consecutive transcript segments: what a search for "where did we talk about X" returns."""

    __tablename__ = "passages"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Everyone who spoke in the window, in the order they first speak.
    speakers: Mapped[list[str]] = mapped_column(JSON, default=list)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    first_segment: Mapped[int] = mapped_column(Integer)
    last_segment: Mapped[int] = mapped_column(Integer)
    # Two vectors of the text: the configured model's (themes cluster it) and the search encoder's.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    search_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)


class ThemeRecord(Base):
    """A recurring theme of a program. Its id survives re-clustering, so links and edits stay valid."""

    __tablename__ = "program_themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Unit-length mean embedding of the members: how a new clustering finds this theme again.
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    first_seen: Mapped[date | None] = mapped_column(Date)
    last_seen: Mapped[date | None] = mapped_column(Date)
    session_count: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer, default=0)
    trend: Mapped[str] = mapped_column(String(10), default="steady")
    # False once a re-clustering no longer finds the theme; kept so it can come back under its id.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ThemeMemberRecord(Base):
    """One insight or passage that belongs to a theme, with its closeness to the theme's centre."""

    __tablename__ = "theme_members"

    theme_id: Mapped[int] = mapped_column(ForeignKey("program_themes.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "insight" | "passage"
    row_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    similarity: Mapped[float] = mapped_column(Float)
    representative: Mapped[bool] = mapped_column(Boolean, default=False)
