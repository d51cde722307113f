"""The audit trail: one row per view, export, edit, deletion and sign-in, written in the same
database transaction as the change it describes (so a rolled-back edit leaves no false record)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from insightcap.auth.schema import Principal
from insightcap.storage.account_tables import AuditEvent


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    detail: str
    client: str


def record(db: Session, actor: Principal, action: str, target: str = "", detail: str = "") -> None:
    db.add(AuditEvent(actor=actor.email[:320], action=action[:40], target=target[:200], detail=detail[:2000],
                      client=actor.client[:100]))


def recent(db: Session, limit: int = 100, actor: str | None = None, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if action:
        query = query.where(AuditEvent.action == action)
    return [AuditEntry(at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail, client=e.client)
            for e in db.scalars(query)]
