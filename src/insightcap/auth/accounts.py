"""Accounts and their roles per program: created, listed, disabled and re-passworded from the CLI,
checked at sign-in."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from insightcap.auth.passwords import hash_password, needs_rehash, verify_password
from insightcap.auth.schema import PROGRAM_ROLES, Principal, Role
from insightcap.auth.tokens import revoke_all
from insightcap.storage import repository as repo
from insightcap.storage.account_tables import Membership, User


@cache
def _unknown_user_hash() -> str:
    """Verifying against this when the email is unknown makes a wrong email as slow as a wrong password,
    so timing does not tell an attacker which accounts exist. Made on first use: an argon2 hash costs
    memory and time that every other `insightcap` command should not pay at import."""
    return hash_password("no such account, only for timing")


class AccountError(ValueError):
    """A request about accounts that cannot be done as asked; the message says what to do instead."""


class UserOut(BaseModel):
    email: str
    is_admin: bool
    disabled: bool
    programs: dict[str, str]  # program name -> role


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if "@" not in cleaned or len(cleaned) > 320 or any(ch.isspace() for ch in cleaned):
        raise AccountError(f"{email!r} does not look like an email address.")
    return cleaned


def find_user(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(db: Session, email: str) -> User:
    user = find_user(db, email)
    if user is None:
        raise AccountError(f"There is no account for {email}. `insightcap user list` shows the accounts.")
    return user


def count_admins(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User).where(User.is_admin, ~User.disabled)) or 0


def add_user(db: Session, email: str, password: str, role: Role, programs: Sequence[str] = (), *,
             new_programs: bool = True) -> User:
    """A new account. Admins need no program; facilitators and members need at least one."""
    if find_user(db, email) is not None:
        raise AccountError(f"{email} already has an account; use `insightcap user grant` to give it more programs.")
    if role in PROGRAM_ROLES and not programs:
        raise AccountError(f"A {role} belongs to at least one program: add --program NAME.")
    user = User(email=normalize_email(email), password_hash=hash_password(password), is_admin=role == Role.ADMIN)
    db.add(user)
    db.flush()
    if role in PROGRAM_ROLES:
        grant(db, user.email, role, programs, new_programs=new_programs)
    return user


def grant(db: Session, email: str, role: Role, programs: Sequence[str], *, new_programs: bool = True) -> User:
    """Give (or change) the user's role in each program. A name matches an existing program whatever
    its case and spacing; with `new_programs=False` a name matching none is refused (it is usually a
    typo that would otherwise start a program nobody uploads to), else the program is created."""
    if role not in PROGRAM_ROLES:
        raise AccountError("Programs take the role facilitator or member; make an admin with `user add --role admin`.")
    if not new_programs:
        _require_existing_programs(db, programs)
    user = get_user(db, email)
    for name in programs:
        program = repo.get_or_create_program(db, name)
        if program is None:
            raise AccountError("A --program needs a name; it was empty.")
        existing = next((m for m in user.memberships if m.program_id == program.id), None)
        if existing is None:
            user.memberships.append(Membership(program_id=program.id, role=role.value))
        else:
            existing.role = role.value
    db.flush()
    return user


def _require_existing_programs(db: Session, programs: Sequence[str]) -> None:
    for name in programs:
        if repo.find_program(db, name) is None:
            raise AccountError(f"{repo.unknown_program_message(db, name)} "
                               f"To start a new program called '{name}', run the command again with --new-program.")


def revoke_program(db: Session, email: str, program: str) -> User:
    user = get_user(db, email)
    target = repo.program_by_name(db, program)
    kept = [m for m in user.memberships if m.program_id != target.id]
    if len(kept) == len(user.memberships):  # said, not logged as a revocation that changed nothing
        raise AccountError(f"{user.email} has no role in {target.name}: nothing to revoke.")
    user.memberships = kept
    db.flush()
    return user


def set_disabled(db: Session, email: str, disabled: bool) -> User:
    """Disabling also signs the user out everywhere and revokes their API tokens."""
    user = get_user(db, email)
    if disabled and user.is_admin and count_admins(db) <= 1:
        raise AccountError("This is the last admin; add another admin before disabling it.")
    user.disabled = disabled
    if disabled:
        revoke_all(db, user.id)
    return user


def set_password(db: Session, user: User, new_password: str) -> None:
    """A new password signs out every other browser (a stolen cookie stops working)."""
    user.password_hash = hash_password(new_password)
    revoke_all(db, user.id, kind="login")


def authenticate(db: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None (no reason given, on purpose)."""
    try:
        user = find_user(db, email)
    except AccountError:
        user = None
    if user is None:
        verify_password(_unknown_user_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def principal_for(user: User, via: Literal["cookie", "bearer"], csrf_token: str | None = None,
                  client: str = "") -> Principal:
    roles = {m.program_id: Role(m.role) for m in user.memberships}
    return Principal(email=user.email, is_admin=user.is_admin, roles=roles, user_id=user.id, via=via,
                     csrf_token=csrf_token, client=client)


def list_users(db: Session) -> list[UserOut]:
    users = db.scalars(select(User).order_by(User.email))
    return [UserOut(email=u.email, is_admin=u.is_admin, disabled=u.disabled,
                    programs={m.program.name: m.role for m in u.memberships}) for u in users]
