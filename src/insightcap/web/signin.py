"""Signing in and out, and changing one's password. The only pages reachable without an account
are the sign-in form and /api/health."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from insightcap.auth import audit
from insightcap.auth.accounts import (
    authenticate,
    get_user,
    principal_for,
    set_password,
)
from insightcap.auth.passwords import WeakPassword, verify_password
from insightcap.auth.schema import Principal
from insightcap.auth.throttle import LoginThrottle
from insightcap.auth.tokens import issue, revoke_secret
from insightcap.config import Settings
from insightcap.storage.account_tables import User
from insightcap.storage.db import session_scope
from insightcap.web.access import SESSION_COOKIE, CurrentCaller, client_address
from insightcap.web.templating import templates

router = APIRouter(include_in_schema=False)


def login_throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(settings.login_attempts, settings.login_window_minutes * 60)


def _safe_next(target: str) -> str:
    """Only a path on this site: a crafted link must not bounce a fresh sign-in to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# Why the sign-in form is shown, said above it: `?why=` from sign_in_address, or a page to go on to.
_WHY = {
    "expired": "Your sign-in has expired. Sign in again to go back to the page you were on.",
    "unsent": "Your sign-in had expired, so what you just sent was not saved. Sign in again to go back to "
              "the page you were on; text you typed into a memo is kept in this browser and shown there again.",
}
_GO_ON = "Sign in to open the page you asked for; you will be taken there."


def _same_site_path(address: str, request: Request) -> str | None:
    """The path and query of `address` if it is a page of this site (the host the request was sent to)."""
    parts = urlsplit(address)
    if not parts.path or parts.netloc != request.headers.get("host"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in_address(request: Request) -> str:
    """The sign-in form for a page asked for without a valid sign-in, going back to where the user was.

    A sent form goes back to the page it was sent from (its Referer): the address it was sent to may
    answer nothing but POST. Sending a form, which only a signed-in page shows, or a sign-in cookie the
    server no longer accepts means the sign-in ended meanwhile, and the form says so."""
    sent_form = request.method not in ("GET", "HEAD")
    if sent_form:
        target = _same_site_path(request.headers.get("referer", ""), request) or "/"
    else:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target}
    if sent_form:
        query["why"] = "unsent"
    elif request.cookies.get(SESSION_COOKIE):
        query["why"] = "expired"
    return f"/login?{urlencode(query)}"


def _login_page(request: Request, *, error: str | None = None, next_url: str = "/", email: str = "",
                why: str = "", status_code: int = 200) -> Response:
    next_url = _safe_next(next_url)
    reason = None if error else _WHY.get(why, _GO_ON if next_url != "/" else None)
    return templates.TemplateResponse(request, "app/login.html.j2",
                                      {"error": error, "reason": reason, "next_url": next_url, "email": email},
                                      status_code=status_code)


def _start_login(db: Session, request: Request, user: User, response: Response) -> None:
    """A new sign-in token for `user`, handed to the browser as an HttpOnly, SameSite cookie."""
    settings: Settings = request.app.state.settings
    secret = issue(db, user, "login", name=request.headers.get("user-agent", "")[:200],
                   lifetime=timedelta(days=settings.login_days))
    secure = request.url.scheme == "https" if settings.secure_cookies is None else settings.secure_cookies
    response.set_cookie(SESSION_COOKIE, secret, max_age=settings.login_days * 86400, httponly=True,
                        samesite="lax", secure=secure, path="/")


@router.get("/login")
def login_form(request: Request, next: str = "/", why: str = "") -> Response:
    return _login_page(request, next_url=next, why=why)


@router.post("/login")
def login(request: Request, email: Annotated[str, Form(max_length=320)], password: Annotated[str, Form(max_length=1000)],
          next: Annotated[str, Form()] = "/") -> Response:
    settings: Settings = request.app.state.settings
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request)
    keys = (f"ip:{address}", f"email:{email.strip().lower()}")
    wait = throttle.retry_after(*keys)
    if wait:
        minutes = max(1, round(wait / 60))
        return _login_page(request, error=f"Too many failed sign-ins. Try again in about {minutes} minute"
                           f"{'s' if minutes != 1 else ''}.", next_url=next, email=email, status_code=429)
    response = RedirectResponse(_safe_next(next), status_code=303)
    with session_scope(settings) as db:
        user = authenticate(db, email, password)
        if user is None:
            anonymous = Principal(email=email.strip().lower()[:320] or "(no email)", is_admin=False, client=address)
            audit.record(db, anonymous, "sign_in_failed")
        else:
            _start_login(db, request, user, response)
            audit.record(db, principal_for(user, "cookie", client=address), "sign_in")
    if user is None:
        throttle.failed(*keys)
        return _login_page(request, error="That email and password do not match an active account.",
                           next_url=next, email=email, status_code=401)
    throttle.succeeded(*keys)
    return response


@router.post("/logout")
def logout(request: Request, caller: CurrentCaller) -> Response:
    with session_scope(caller.settings) as db:
        revoke_secret(db, request.cookies.get(SESSION_COOKIE, ""))
        audit.record(db, caller.principal, "sign_out")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _account_page(request: Request, caller: CurrentCaller, *, error: str | None = None, notice: str | None = None,
                  status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, "app/account.html.j2",
                                      {"error": error, "notice": notice, "principal": caller.principal},
                                      status_code=status_code)


@router.get("/account")
def account(request: Request, caller: CurrentCaller, changed: bool = False) -> Response:
    return _account_page(request, caller,
                         notice="Your password was changed; other browsers were signed out." if changed else None)


@router.post("/account/password")
def change_password(request: Request, caller: CurrentCaller,
                    current: Annotated[str, Form(max_length=1000)], new: Annotated[str, Form(max_length=1000)],
                    confirm: Annotated[str, Form(max_length=1000)]) -> Response:
    """Other browsers are signed out; this one stays signed in with a fresh cookie."""
    if new != confirm:
        return _account_page(request, caller, error="The two new passwords differ.", status_code=422)
    with session_scope(caller.settings) as db:
        user = get_user(db, caller.principal.email)
        if not verify_password(user.password_hash, current):
            return _account_page(request, caller, error="The current password is not right.", status_code=422)
        try:
            set_password(db, user, new)
        except WeakPassword as weak:
            return _account_page(request, caller, error=str(weak), status_code=422)
        response = RedirectResponse("/account?changed=true", status_code=303)
        _start_login(db, request, user, response)
        audit.record(db, caller.principal, "change_password")
    return response
