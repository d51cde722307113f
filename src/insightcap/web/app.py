"""The web app: server-rendered pages for facilitators and a JSON API (documented at /docs) for scripts.

Embedded default: SQLite and the in-process `ThreadQueue`. On start, jobs a previous process left
unfinished are queued again, so stopping the server mid-transcription loses nothing but time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from insightcap import __version__
from insightcap.auth.policy import Forbidden
from insightcap.config import Settings
from insightcap.error_log import log_traceback
from insightcap.forget import ForgetRefused
from insightcap.jobs.queue import JobQueue, ThreadQueue
from insightcap.memo.documents import PdfUnavailable
from insightcap.resources import resource_dir
from insightcap.storage.repository import EmptyMemo, NotFound, SpeakerNameTaken
from insightcap.web import views
from insightcap.web.access import NotSignedIn
from insightcap.web.models import MemoConflictOut, UploadProblem
from insightcap.web.signin import sign_in_address
from insightcap.web.templating import templates
from insightcap.web.uploads import DEFAULT_MAX_UPLOAD_BYTES, UploadRejected

log = logging.getLogger(__name__)

# No inline scripts anywhere: every script is a file under web/static/js.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(
    settings: Settings, *, queue: JobQueue | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
) -> FastAPI:
    """The ASGI app. `queue` defaults to a ThreadQueue started (and resuming interrupted jobs) at startup."""
    from insightcap.web import api, pages, signin

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from insightcap.jobs.runner import interrupted_jobs

        if app.state.queue is None:
            app.state.queue = ThreadQueue(settings)
        for job_id in interrupted_jobs(settings):
            log.warning("resuming interrupted job %s", job_id)
            app.state.queue.submit(job_id)
        yield

    app = FastAPI(
        title="insightcap API",
        version=__version__,
        description="Upload meeting recordings, follow their processing, read transcripts and insights, "
        "edit and approve debrief memos, and search past sessions.",
        lifespan=lifespan,
        # FastAPI's own /docs loads Swagger UI from a CDN with an inline script; pages.py serves a vendored copy.
        docs_url=None,
        redoc_url=None,
    )
    settings.ensure_dirs()
    app.state.settings = settings
    app.state.queue = queue
    app.state.max_upload_bytes = max_upload_bytes
    app.state.login_throttle = signin.login_throttle(settings)
    app.mount("/static", StaticFiles(directory=resource_dir("web") / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(signin.router)
    _add_protections(app)
    _add_error_pages(app)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _add_protections(app: FastAPI) -> None:
    @app.middleware("http")
    async def protect(request: Request, call_next) -> Response:
        # A page on another site must not be able to post to this local app (CSRF): browsers send
        # Origin with every cross-site POST, so a foreign Origin is refused.
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
            if urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"detail": "Requests from other sites are not accepted."}, status_code=403)
        request.state.principal = None  # set by web.access once the caller is known
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            # Transcripts and memos are confidential: no copy in shared or browser caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _error(request: Request, status_code: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return templates.TemplateResponse(
        request, "app/error.html.j2", {"message": message, "status_code": status_code}, status_code=status_code
    )


# What a value pydantic could not read should have been, by its error type. Only the pages use these:
# "Input should be a valid integer, unable to parse string as an integer" means nothing to a facilitator.
_EXPECTED_VALUE = {
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "yes or no (true or false)",
    "date_parsing": "a date like 2026-11-20", "date_from_datetime_parsing": "a date like 2026-11-20",
}


def _field_of(problem: dict) -> str:
    """The name of the field a problem is in ("v", "version"), without where it was sent ("query", "body")."""
    return ".".join(str(part) for part in problem["loc"][1:])


def _problem_in_words(problem: dict) -> str:
    """One of pydantic's problems as a clause: what is missing, or what a value should have been."""
    name = f"“{_field_of(problem)}”" if _field_of(problem) else "a part"
    if problem["type"] == "missing":
        return f"{name} is missing"
    expected = _EXPECTED_VALUE.get(problem["type"])
    if expected is None:
        return f"{name} is not valid"
    return f"{name} should be {expected}, not “{str(problem.get('input', ''))[:40]}”"


def invalid_request_in_words(problems: Sequence[dict]) -> str:
    """A page's address or form that could not be read, said as a sentence with what to do: such an
    address comes from a link cut short or edited by hand, such a form from a page left open too long."""
    in_form = any(problem["loc"][:1] == ("body",) for problem in problems)
    said = "; ".join(_problem_in_words(problem) for problem in problems)
    if in_form:
        return f"Something in the form sent was not right: {said}. Reload the page and try again."
    return f"Something in this address is not right: {said}. Check the link, or start again from All sessions."


async def _expected(status_code: int, request: Request, error: Exception) -> Response:
    return _error(request, status_code, str(error))


def _add_error_pages(app: FastAPI) -> None:
    """Every error reaches the user as a sentence saying what to do; tracebacks go to the log only."""

    statuses: dict[type[Exception], int] = {
        NotFound: 404, views.MemoNotReady: 404, views.NotRetryable: 409, views.SearchUnavailable: 503,
        PdfUnavailable: 503, Forbidden: 403, ForgetRefused: 409, SpeakerNameTaken: 409, EmptyMemo: 422,
    }
    for exception_type, status_code in statuses.items():
        app.add_exception_handler(exception_type, partial(_expected, status_code))

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, error: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse(sign_in_address(request), status_code=303)

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, error: UploadRejected) -> Response:
        if _is_api(request) and error.link:  # for upload.js, which shows it as the upload page does
            body = UploadProblem(detail=str(error), link=error.link)
            return JSONResponse(body.model_dump(mode="json"), status_code=error.status_code)
        return _error(request, error.status_code, str(error))

    @app.exception_handler(views.MemoEditConflict)
    async def conflict(request: Request, error: views.MemoEditConflict) -> Response:
        """Pages show their own conflict view; the API answers 409 with the latest version."""
        body = MemoConflictOut(detail=str(error), current=error.current)
        return JSONResponse(body.model_dump(mode="json"), status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = error.detail if error.status_code != 404 or _is_api(request) else "There is no page at this address."
        return _error(request, error.status_code, str(message))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        if not _is_api(request):
            return _error(request, 422, invalid_request_in_words(error.errors()))
        problems = "; ".join(f"{_field_of(e) or 'request'}: {e['msg']}" for e in error.errors())
        return _error(request, 422, f"The request is incomplete or invalid ({problems}).")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        settings: Settings = request.app.state.settings
        log_path = log_traceback(log, settings.web_log, "%s %s failed", request.method, request.url.path)
        # The browser's user may not run the server: name the log within the data folder, not its path there.
        return _error(
            request, 500,
            "Something went wrong on our side. Reload the page and try again; if it keeps happening, send the "
            f"administrator the file {log_path.relative_to(settings.data_dir).as_posix()} from insightcap's data folder.",
        )
