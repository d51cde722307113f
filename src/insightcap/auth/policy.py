"""Who may see and change what: the one place access is decided, for pages, the JSON API, media,
exports, search and themes alike.

- admin: everything.
- facilitator of a program: every session of it (upload, edit, approve, rename, delete).
- member of a program: only sessions whose memo a facilitator has approved, and only the approved text.
A session a user may not see is reported as not existing (404), never as forbidden, so even its
existence does not leak; 403 is for what a user can see but not change.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from insightcap.auth.schema import Principal, Role
from insightcap.storage.repository import NotFound, find_program
from insightcap.storage.statuses import MemoStatus
from insightcap.storage.tables import MemoVersion, Program, SessionRecord

_NO_SUCH_SESSION = "There is no session at this address, or you do not have access to it."


class Forbidden(PermissionError):
    """Visible but not the user's to change; the message says who can."""


def _approved_memo_exists() -> ColumnElement[bool]:
    return exists().where(MemoVersion.session_id == SessionRecord.id, MemoVersion.status == MemoStatus.APPROVED)


def visible_sessions_condition(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause over SessionRecord for what `principal` may read; None means everything."""
    if principal.is_admin:
        return None
    facilitated = principal.facilitated_programs
    member_of = {pid for pid, role in principal.roles.items() if role == Role.MEMBER}
    clauses = []
    if facilitated:
        clauses.append(SessionRecord.program_id.in_(facilitated))
    if member_of:
        clauses.append(and_(SessionRecord.program_id.in_(member_of), _approved_memo_exists()))
    return or_(*clauses) if clauses else false()


def visible_sessions(db: Session, principal: Principal) -> list[SessionRecord]:
    query = select(SessionRecord).order_by(SessionRecord.created_at.desc())
    condition = visible_sessions_condition(principal)
    return list(db.scalars(query if condition is None else query.where(condition)))


def visible_session_ids(db: Session, principal: Principal) -> list[str] | None:
    """Ids of the readable sessions, for search scoping; None for an admin (no restriction)."""
    if principal.is_admin:
        return None
    return [record.id for record in visible_sessions(db, principal)]


def visible_programs(db: Session, principal: Principal) -> list[Program]:
    programs = db.scalars(select(Program).order_by(Program.name))
    return [p for p in programs if principal.is_admin or p.id in principal.roles]


def readable_session(db: Session, principal: Principal, session_id: str) -> SessionRecord:
    """The session if `principal` may read it; NotFound otherwise (whether or not it exists)."""
    record = db.get(SessionRecord, session_id)
    if record is None:
        raise NotFound(_NO_SUCH_SESSION)
    condition = visible_sessions_condition(principal)
    if condition is not None and not db.scalar(select(exists().where(SessionRecord.id == record.id, condition))):
        raise NotFound(_NO_SUCH_SESSION)
    return record


def editable_session(db: Session, principal: Principal, session_id: str) -> SessionRecord:
    """The session if `principal` facilitates its program; Forbidden if they can only read it."""
    record = readable_session(db, principal, session_id)
    if not principal.facilitates(record.program_id):
        raise Forbidden("Only the program's facilitators can change this session, or see its memo's drafts and history.")
    return record


def sees_drafts(principal: Principal, record: SessionRecord) -> bool:
    """Facilitators see every memo version; members only approved ones."""
    return principal.facilitates(record.program_id)


def program_to_upload_to(db: Session, principal: Principal, name: str | None) -> str | None:
    """The program a new upload may go into. Admins may name a new one; facilitators only their own."""
    if principal.is_admin:
        return name
    if not name:
        raise Forbidden("Choose one of your programs for this session.")
    program = find_program(db, name)
    if program is None or not principal.facilitates(program.id):
        raise Forbidden(f"You can upload only to programs you facilitate; {name!r} is not one of them. "
                        "Ask an admin to add you to it.")
    return program.name


def facilitated_program(db: Session, principal: Principal, name: str) -> Program:
    """A program whose cross-session views (themes) the principal may open: facilitators and admins."""
    program = find_program(db, name)
    if program is None or principal.role_in(program.id) is None:
        raise NotFound(f"There is no program called {name!r}, or you do not have access to it.")
    if not principal.facilitates(program.id):
        raise Forbidden("Program themes are for the program's facilitators. If you need them, ask a facilitator "
                        "of the program or an admin.")
    return program
