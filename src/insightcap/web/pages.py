"""The pages. Each works with plain HTML forms; the scripts in web/static/js only make them nicer
(upload progress, live job status, seeking the player, live memo preview). Every page needs a
signed-in caller; what each caller sees is decided by insightcap.auth.policy through views."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import groupby
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from insightcap.auth.policy import Forbidden
from insightcap.insights.schema import SECTION_LABELS, Section
from insightcap.memo.documents import render_markdown
from insightcap.search.schema import (
    QUERY_NEEDED,
    SEARCH_SECTIONS,
    TRANSCRIPT,
    TRY_AGAIN,
    SearchFilters,
    filter_problems,
    only_by_meaning,
)
from insightcap.storage.repository import EmptyMemo, NotFound, SpeakerNameTaken
from insightcap.storage.statuses import MemoStatus
from insightcap.transcript.formats.cues import parse_clock
from insightcap.transcript.speakers import MOST_SPEAKERS
from insightcap.web import views
from insightcap.web.access import CurrentCaller
from insightcap.web.intake import accept_upload
from insightcap.web.models import Link, SessionDetail
from insightcap.web.templating import templates
from insightcap.web.uploads import TRANSCRIPT_SUFFIXES, UploadRejected, human_size

router = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, http_status: int = 200, **context) -> Response:
    return templates.TemplateResponse(request, f"app/{template}.html.j2", context, status_code=http_status)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def index(request: Request, caller: CurrentCaller, deleted: bool = False, refusal_deleted: bool = False) -> Response:
    sessions = views.list_sessions(caller)
    by_program = sorted(sessions, key=lambda s: (s.program is None, (s.program or "").lower()))
    groups = [(program, list(items)) for program, items in groupby(by_program, key=lambda s: s.program)]
    return _page(request, "index", groups=groups, count=len(sessions), may_upload=caller.principal.facilitates_any,
                 deleted=deleted, refusal_deleted=refusal_deleted, refusals=views.recent_refusals(caller))


# What a member opening Upload or Themes reads instead of a form with nothing to choose from.
UPLOAD_IS_FOR_FACILITATORS = ("Only a program's facilitators can upload recordings. Ask one of them to upload "
                              "yours, or ask an admin to make you a facilitator of the program.")
THEMES_ARE_FOR_FACILITATORS = ("Themes are for a program's facilitators: they are drawn from all of its sessions, "
                               "approved or not. You can read and search your programs' approved memos.")


def _upload_page(
    request: Request,
    caller: views.Caller,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    error_link: Link | None = None,
) -> Response:
    """The upload form; after a rejected upload, with the `error` (and where to go instead, if
    somewhere) and the `form` fields as they were filled in (a browser cannot be given the file back,
    so only it has to be chosen again). A member gets a plain refusal: the form would offer no program."""
    if not caller.principal.facilitates_any:
        raise Forbidden(UPLOAD_IS_FOR_FACILITATORS)
    return _page(
        request,
        "upload",
        status_code,
        error=error,
        error_link=error_link,
        form=form or {},
        programs=[program for program in views.list_programs(caller) if program.can_upload],
        may_name_new_program=caller.principal.is_admin,
        max_bytes=request.app.state.max_upload_bytes,
        max_size=human_size(request.app.state.max_upload_bytes),
        transcript_suffixes=", ".join(TRANSCRIPT_SUFFIXES),
        most_speakers=MOST_SPEAKERS,
    )


@router.get("/docs")
def api_docs(request: Request, caller: CurrentCaller) -> Response:
    """The JSON API's OpenAPI description, browsable and callable (Swagger UI)."""
    return _page(request, "api_docs")


@router.get("/upload")
def upload_form(request: Request, caller: CurrentCaller) -> Response:
    return _upload_page(request, caller)


@router.post("/upload")
async def upload(request: Request, caller: CurrentCaller) -> Response:
    """Without JavaScript the form posts here; with it, upload.js sends to POST /api/sessions."""
    try:
        submitted = await accept_upload(request, caller)
    except UploadRejected as error:
        return _upload_page(request, caller, str(error), error.status_code, error.fields, error.link)
    except Forbidden as error:
        return _upload_page(request, caller, str(error), 403)
    return _see_other(f"/jobs/{submitted.job_id}")


@router.get("/jobs/{job_id}")
def job_page(request: Request, caller: CurrentCaller, job_id: str) -> Response:
    return _page(request, "job", job=views.get_job(caller, job_id))


@router.post("/jobs/{job_id}/retry")
def retry(request: Request, caller: CurrentCaller, job_id: str) -> Response:
    try:
        views.mark_for_retry(caller, job_id)
    except views.NotRetryable:
        return _see_other(f"/jobs/{job_id}")
    request.app.state.queue.submit(job_id)
    return _see_other(f"/jobs/{job_id}")


def _moment(t: str | None) -> float | None:
    """The second `?t=` opens the session at: seconds, or mm:ss and h:mm:ss as memos write times. A time
    that cannot be read opens the session at its start: a link mangled on its way should still open it."""
    for read in (float, parse_clock):
        try:
            seconds = read(t or "")
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


@router.get("/sessions/{session_id}")
def session_page(request: Request, caller: CurrentCaller, session_id: str, t: str | None = None,
                 delete_refused: bool = False) -> Response:
    try:
        session = views.session_detail(caller, session_id)
    except NotFound:
        full_id = views.session_id_for_prefix(caller, session_id)
        if full_id is None:
            raise
        return _see_other(f"/sessions/{full_id}" + (f"?{request.url.query}" if request.url.query else ""))
    return _session_page(request, caller, session, start_at=_moment(t), delete_refused=delete_refused)


@dataclass(frozen=True)
class RefusedRename:
    """A speaker rename shown again by its form on the session page: the name as typed, and why not."""

    speaker: str
    name: str
    reason: str


def _session_page(request: Request, caller: views.Caller, session: SessionDetail, http_status: int = 200, *,
                  start_at: float | None = None, delete_refused: bool = False,
                  refused_rename: RefusedRename | None = None) -> Response:
    sections = [(section.value, [i for i in session.insights if i.section == section.value]) for section in Section]
    job = views.get_job(caller, session.job_id) if session.job_id and session.can_edit else None
    memo = views.latest_memo_or_none(caller, session.id)
    return _page(request, "session", http_status, session=session, sections=[s for s in sections if s[1]], job=job,
                 memo=memo, start_at=start_at, delete_refused=delete_refused, still_processing=views.STILL_PROCESSING,
                 refused_rename=refused_rename)


@router.post("/sessions/{session_id}/speakers")
def rename_speaker(request: Request, caller: CurrentCaller, session_id: str, speaker: str = Form(),
                   name: str = Form("")) -> Response:
    """A name another speaker goes by comes back on the session page, by the form, as it was typed:
    the user fixes it there instead of on an error page."""
    try:
        views.rename_speaker(caller, session_id, speaker, name)
    except SpeakerNameTaken as taken:
        session = views.session_detail(caller, session_id, audited=False)
        return _session_page(request, caller, session, 409, refused_rename=RefusedRename(speaker, name, str(taken)))
    return _see_other(f"/sessions/{session_id}#speakers")


@router.post("/sessions/{session_id}/delete")
def delete_session(caller: CurrentCaller, session_id: str) -> Response:
    """A session still processing is not deleted: back to its page, which says so in plain words."""
    try:
        views.delete_session(caller, session_id)
    except views.StillProcessing:
        return _see_other(f"/sessions/{session_id}?delete_refused=1#delete")
    return _see_other("/?deleted=1")


@router.post("/refused/{job_id}/delete")
def delete_refusal(caller: CurrentCaller, job_id: str) -> Response:
    views.delete_refusal(caller, job_id)
    return _see_other("/?refusal_deleted=1")


def _editor(request: Request, caller: views.Caller, session_id: str, *, notice: str | None = None,
            error: str | None = None, status_code: int = 200, mine: str | None = None, based_on: int | None = None,
            draft_id: str = "") -> Response:
    """The editor at the latest version; after a refused save, with the user's text `mine` (based on
    version `based_on`, marked by memo.js with `draft_id`) kept in it as typed, even empty."""
    session = views.session_detail(caller, session_id, audited=False)
    try:
        memo = views.get_memo(caller, session_id)
    except views.MemoNotReady as missing:
        return _page(request, "error", 404, message=str(missing), status_code=404, session=session)
    shown = memo.markdown if mine is None else mine
    return _page(request, "memo", status_code, session=session, memo=memo, preview=render_markdown(shown, memo.session_id, within_page=True),
                 notice=notice, error=error, mine=mine, based_on=based_on or memo.version, draft_id=draft_id,
                 review=views.memo_review(caller, session_id) if session.can_edit else None)


def _saved_notice(caller: views.Caller, session_id: str, saved: int) -> str:
    """What saving did. Saving after an approval makes a new draft while the approval stays with the
    version approved, so the notice says the memo needs approving again rather than letting it pass."""
    try:
        statuses = {version.version: version.status for version in views.memo_versions(caller, session_id)}
    except Forbidden:  # a reader cannot save: an address with ?saved= gets the plain notice
        statuses = {}
    if statuses.get(saved) == MemoStatus.DRAFT and statuses.get(saved - 1) == MemoStatus.APPROVED:
        return (f"Saved as version {saved}. Version {saved - 1} was approved; version {saved} is a draft again "
                "until someone approves it: approve it below once it is ready.")
    return f"Saved as version {saved}."


# The id memo.js gives text typed in the editor (kept in the browser until saved): letters, digits, "-".
_DRAFT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _draft_id(submitted: str) -> str:
    return submitted if _DRAFT_ID.fullmatch(submitted) else ""


@router.get("/sessions/{session_id}/memo")
def memo_editor(request: Request, caller: CurrentCaller, session_id: str, saved: int | None = None,
                withdrawn: int | None = None) -> Response:
    notice = _saved_notice(caller, session_id, saved) if saved else None
    if withdrawn:  # what members read now is said next to Approve
        notice = f"Version {withdrawn} is withdrawn: members no longer read it."
    return _editor(request, caller, session_id, notice=notice)


@router.post("/sessions/{session_id}/memo")
def save_memo(request: Request, caller: CurrentCaller, session_id: str, markdown: str = Form(""),
              version: int = Form(), draft: str = Form("")) -> Response:
    """Saved, back to the editor, whose script then forgets the `draft` it kept in the browser. Refused,
    the user's text stays on the page: beside the latest version after a conflict, in the editor when empty."""
    mine, draft = markdown.replace("\r\n", "\n"), _draft_id(draft)
    try:
        memo = views.save_memo(caller, session_id, mine, version)
    except views.MemoEditConflict as conflict:
        current = conflict.current
        return _page(request, "memo_conflict", 409, session=views.session_detail(caller, session_id, audited=False),
                     mine=mine, current=current, diff=views.diff_lines(current.markdown, mine), draft_id=draft)
    except EmptyMemo as empty:
        return _editor(request, caller, session_id, status_code=422, error=str(empty), mine=mine, based_on=version,
                       draft_id=draft)
    done = {"saved": memo.version, **({"draft": draft} if draft else {})}
    return _see_other(f"/sessions/{session_id}/memo?{urlencode(done)}")


@router.post("/sessions/{session_id}/memo/status")
def memo_status(request: Request, caller: CurrentCaller, session_id: str, status: str = Form(),
                version: int = Form()) -> Response:
    try:
        views.set_memo_status(caller, session_id, status, version)
    except views.MemoEditConflict as conflict:
        return _editor(request, caller, session_id, status_code=409,
                       error=f"{conflict} The latest version is shown below.")
    return _see_other(f"/sessions/{session_id}/memo")


@router.post("/sessions/{session_id}/memo/withdraw")
def memo_withdraw(caller: CurrentCaller, session_id: str, version: int = Form()) -> Response:
    """Take an approved version back from members while a newer draft is being worked on."""
    withdrawn = views.withdraw_approval(caller, session_id, version)
    return _see_other(f"/sessions/{session_id}/memo?withdrawn={withdrawn.version}")


@router.get("/sessions/{session_id}/memo/history")
def memo_history(request: Request, caller: CurrentCaller, session_id: str, v: int | None = None) -> Response:
    versions = views.memo_versions(caller, session_id)
    if not versions:
        return _editor(request, caller, session_id)
    selected = v if v is not None else versions[0].version
    chosen = views.memo_version(caller, session_id, selected)
    previous = views.memo_version(caller, session_id, selected - 1).markdown if selected > 1 else ""
    return _page(request, "memo_history", session=views.session_detail(caller, session_id, audited=False),
                 versions=versions, chosen=chosen, latest=versions[0], diff=views.diff_lines(previous, chosen.markdown))


@router.post("/sessions/{session_id}/memo/restore")
def memo_restore(request: Request, caller: CurrentCaller, session_id: str, restore_version: int = Form(),
                 version: int = Form()) -> Response:
    try:
        memo = views.restore_memo(caller, session_id, restore_version, version)
    except views.MemoEditConflict as conflict:
        return _editor(request, caller, session_id, status_code=409, error=f"{conflict} Nothing was restored.")
    return _see_other(f"/sessions/{session_id}/memo?saved={memo.version}")


@router.get("/themes")
def themes_page(request: Request, caller: CurrentCaller, program: str = "") -> Response:
    """Recurring themes of one program, as a timeline: themes down, sessions across. A member is told
    themes are not for them, rather than offered an upload they cannot make."""
    if not caller.principal.facilitates_any:
        raise Forbidden(THEMES_ARE_FOR_FACILITATORS)
    programs = [p for p in views.list_programs(caller) if p.can_upload]
    chosen = program or (programs[0].name if programs else "")
    timeline = views.theme_timeline(caller, chosen) if chosen else None
    return _page(request, "themes", programs=programs, timeline=timeline, chosen=chosen)


@router.post("/themes/{theme_id}/label")
def theme_rename(caller: CurrentCaller, theme_id: int, program: str = Form(), label: str = Form("")) -> Response:
    """Back to the theme on its program's page, under its new name."""
    views.rename_theme(caller, program, theme_id, label)
    return _see_other(f"/themes?{urlencode({'program': program})}#theme-{theme_id}")


# The search form's section choices, as (value, label): the insight sections, then the transcript alone.
_SECTION_CHOICES = [(name, {**SECTION_LABELS, TRANSCRIPT: "Transcript only"}[name]) for name in SEARCH_SECTIONS]


@router.get("/search")
def search_page(
    request: Request,
    caller: CurrentCaller,
    q: str = "",
    program: str = "",
    date_from: str = "",
    date_to: str = "",
    section: str = "",
    speaker: str = "",
) -> Response:
    """A GET form, so a search is a link that can be bookmarked or shared. Opened without a query it is
    just the form; sent with an empty box, it asks for words instead of showing no results. A speaker
    no session has is refused like a wrong program, with the names there are: an empty list would
    read as "nobody said that". A member who can read no session yet is told so, not to try other words."""
    hits, error, programs = [], None, views.list_programs(caller)
    nothing_approved = not caller.principal.facilitates_any and not any(p.sessions for p in programs)
    try:
        filters = views.search_filters(caller, program=program or None, date_from=date_from or None,
                                       date_to=date_to or None, section=section or None, speaker=speaker or None)
    except ValidationError as invalid:
        filters, error = SearchFilters(), filter_problems(invalid)
    searching = bool(q.strip()) and not nothing_approved
    if searching and error is None:
        error = views.speaker_problem(caller, filters)
    if searching and error is None:
        try:
            hits = views.search(caller, q.strip()[:500], filters, 30)
        except views.SearchUnavailable as unavailable:
            error = str(unavailable)
    return _page(request, "search", q=q, filters=filters, hits=hits, error=error, nothing_approved=nothing_approved,
                 prompt=QUERY_NEEDED if "q" in request.query_params and not q.strip() and not nothing_approved else None,
                 only_by_meaning=only_by_meaning(hits), try_again=TRY_AGAIN, programs=programs,
                 sections=_SECTION_CHOICES)
