"""Who is calling, for every request: a Bearer token (scripts) or the sign-in cookie (pages), plus the
CSRF check that cookie-authenticated changes must pass. What the caller may do is decided in
insightcap.auth.policy; this module only establishes identity."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from insightcap.auth.accounts import principal_for
from insightcap.auth.policy import Forbidden
from insightcap.auth.schema import Principal
from insightcap.auth.tokens import resolve
from insightcap.config import Settings
from insightcap.storage.db import session_scope
from insightcap.web.views import Caller

SESSION_COOKIE = "insightcap_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid credentials: pages redirect to the sign-in page, the API answers 401."""


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _principal(settings: Settings, secret: str, kind: str, client: str) -> Principal | None:
    with session_scope(settings) as db:
        token = resolve(db, secret, kind)
        if token is None:
            return None
        return principal_for(token.user, "bearer" if kind == "api" else "cookie", token.csrf_token, client)


def current_principal(request: Request) -> Principal:
    """Synchronous on purpose: FastAPI runs it in a worker thread, off the event loop, as it queries SQLite."""
    settings: Settings = request.app.state.settings
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        principal = _principal(settings, secret.strip(), "api", client_address(request)) \
            if scheme.lower() == "bearer" and secret.strip() else None
        if principal is None:
            raise NotSignedIn("This API token is not valid: it may be revoked or mistyped. "
                              "Create one with `insightcap token create EMAIL`.")
    else:
        secret = request.cookies.get(SESSION_COOKIE, "")
        principal = _principal(settings, secret, "login", client_address(request)) if secret else None
        if principal is None:
            raise NotSignedIn("Please sign in.")
    request.state.principal = principal
    return principal


async def _submitted_csrf_token(request: Request) -> str:
    """From the X-CSRF-Token header (scripts on our pages), a plain form field, or, for streamed
    multipart uploads whose body must not be read here, the form action's query string."""
    token = request.headers.get(CSRF_HEADER) or request.query_params.get(CSRF_FIELD)
    if token:
        return token
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()  # cached on the request: the endpoint's Form fields read the same
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def caller(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Caller:
    """The caller of a route; a signed-in browser changing anything must also prove the page was ours."""
    if principal.via == "cookie" and request.method not in SAFE_METHODS:
        submitted = await _submitted_csrf_token(request)
        if not (principal.csrf_token and hmac.compare_digest(submitted, principal.csrf_token)):
            raise Forbidden("This form has expired or did not come from insightcap. Reload the page and try again.")
    return Caller(settings=request.app.state.settings, principal=principal)


CurrentCaller = Annotated[Caller, Depends(caller)]
