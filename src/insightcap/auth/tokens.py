"""Sign-in cookies and API tokens: random secrets handed out once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from insightcap.storage.account_tables import AccessToken, User
from insightcap.storage.tables import utcnow

# Writing "last used" on every request would turn each page view into a database write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(db: Session, user: User, kind: str, *, name: str = "", lifetime: timedelta | None = None) -> str:
    """A new secret for `user`; only its hash is kept, so this is the one time it can be shown."""
    secret = secrets.token_urlsafe(32)
    db.add(AccessToken(
        user_id=user.id, kind=kind, secret_hash=_digest(secret), name=name[:200],
        csrf_token=secrets.token_urlsafe(32) if kind == "login" else None,
        expires_at=utcnow() + lifetime if lifetime else None,
    ))
    db.flush()
    return secret


def resolve(db: Session, secret: str, kind: str) -> AccessToken | None:
    """The live token for this secret: not revoked, not expired, its user not disabled."""
    token = db.scalar(select(AccessToken).where(AccessToken.secret_hash == _digest(secret), AccessToken.kind == kind))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.user.disabled:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def revoke_secret(db: Session, secret: str) -> None:
    db.execute(update(AccessToken).where(AccessToken.secret_hash == _digest(secret)).values(revoked_at=utcnow()))


def revoke_token(db: Session, token_id: int) -> bool:
    result = db.execute(update(AccessToken).where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    return result.rowcount > 0


def revoke_all(db: Session, user_id: int, kind: str | None = None) -> None:
    condition = [AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None)]
    if kind:
        condition.append(AccessToken.kind == kind)
    db.execute(update(AccessToken).where(*condition).values(revoked_at=utcnow()))


def api_tokens(db: Session, user_id: int | None = None) -> list[AccessToken]:
    query = select(AccessToken).where(AccessToken.kind == "api").order_by(AccessToken.created_at)
    if user_id is not None:
        query = query.where(AccessToken.user_id == user_id)
    return list(db.scalars(query))
