"""The JSON API: one endpoint per action a page offers, so everything can be scripted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from insightcap import __version__
from insightcap.memo.documents import render_markdown
from insightcap.search.schema import (
    MOST_RESULTS,
    QUERY_NEEDED,
    SEARCH_SECTIONS,
    filter_problems,
)
from insightcap.transcript.speakers import MOST_SPEAKERS
from insightcap.web import views
from insightcap.web.access import CurrentCaller
from insightcap.web.exports import export_file
from insightcap.web.intake import accept_upload
from insightcap.web.models import (
    DiffLine,
    Health,
    JobOut,
    Me,
    MemoConflictOut,
    MemoOut,
    MemoRestore,
    MemoSave,
    MemoStatusIn,
    MemoStatusOut,
    MemoVersionOut,
    MemoWithdraw,
    PreviewIn,
    PreviewOut,
    Problem,
    ProgramOut,
    SearchOut,
    SessionDetail,
    SessionSummary,
    SpeakerRename,
    Submitted,
    ThemeLabelIn,
    ThemeLabelOut,
    ThemeTimeline,
    UploadProblem,
)

# Every error body is {"detail": "<a sentence>"}, validation errors included (app.py words them).
router = APIRouter(prefix="/api", tags=["api"], responses={
    400: {"model": Problem}, 401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem},
    422: {"model": Problem}})

_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "title": {"type": "string"},
                        "program": {"type": "string"},
                        "date": {"type": "string", "format": "date"},
                        "speakers": {"type": "integer", "minimum": 1, "maximum": MOST_SPEAKERS,
                                     "description": "Exactly this many people speak (recordings only)."},
                        "min_speakers": {"type": "integer", "minimum": 1, "maximum": MOST_SPEAKERS},
                        "max_speakers": {"type": "integer", "minimum": 1, "maximum": MOST_SPEAKERS},
                        "file": {"type": "string", "format": "binary",
                                 "description": "A recording, or a transcript (.vtt, .srt, .txt)."},
                    },
                }
            }
        },
    }
}


@router.get("/health", response_model=Health)
def health() -> Health:
    return Health(status="ok", version=__version__)


@router.post(
    "/sessions",
    status_code=202,
    response_model=Submitted,
    openapi_extra=_UPLOAD_FORM,
    responses={413: {"model": Problem}, 415: {"model": Problem}, 422: {"model": UploadProblem}},
)
async def create_session(request: Request, caller: CurrentCaller) -> Submitted:
    """Upload a recording (or a transcript file) and queue its processing. The body is streamed to disk.
    Facilitators upload into their own programs; admins may name a new program."""
    return await accept_upload(request, caller)


@router.get("/sessions", response_model=list[SessionSummary])
def list_sessions(caller: CurrentCaller) -> list[SessionSummary]:
    """The sessions you can see, newest first."""
    return views.list_sessions(caller)


@router.get("/programs", response_model=list[ProgramOut])
def list_programs(caller: CurrentCaller) -> list[ProgramOut]:
    """Your programs."""
    return views.list_programs(caller)


@router.get("/programs/{program}/themes", response_model=ThemeTimeline, responses={404: {"model": Problem}})
def program_themes(caller: CurrentCaller, program: str) -> ThemeTimeline:
    """The program's themes and the sessions each came up in: recurring ones first, each group most
    frequent first."""
    return views.theme_timeline(caller, program)


@router.put("/programs/{program}/themes/{theme_id}", response_model=ThemeLabelOut,
            responses={403: {"model": Problem}, 404: {"model": Problem}})
def rename_theme(caller: CurrentCaller, program: str, theme_id: int, body: ThemeLabelIn) -> ThemeLabelOut:
    """Name a program theme (facilitators); the name stays when the program's themes are re-clustered."""
    return ThemeLabelOut(id=theme_id, label=views.rename_theme(caller, program, theme_id, body.label))


@router.delete("/sessions/{session_id}", status_code=204, responses={403: {"model": Problem}, 404: {"model": Problem}})
def delete_session(caller: CurrentCaller, session_id: str) -> Response:
    """Forget a session everywhere: recording, transcript, insights, memos, search entries and vectors."""
    views.delete_session(caller, session_id)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(caller: CurrentCaller) -> Me:
    """Who you are signed in as, and your role in each program."""
    return views.me(caller)


@router.get("/sessions/{session_id}", response_model=SessionDetail)
def get_session(caller: CurrentCaller, session_id: str) -> SessionDetail:
    """The session with its transcript and insights (speakers shown by their given names)."""
    return views.session_detail(caller, session_id)


@router.get("/sessions/{session_id}/media", response_class=FileResponse)
def get_media(caller: CurrentCaller, session_id: str) -> FileResponse:
    """The original recording, with HTTP Range support so players can seek."""
    path, media_type = views.media_path(caller, session_id)
    return FileResponse(path, media_type=media_type)


@router.put("/sessions/{session_id}/speakers", response_model=dict[str, str], responses={409: {"model": Problem}})
def rename_speaker(caller: CurrentCaller, session_id: str, rename: SpeakerRename) -> dict[str, str]:
    """Name a speaker once; the name shows in the transcript, insights, search results and the draft
    memo (not inside its quotes). A name another speaker of the session has is refused (409)."""
    return views.rename_speaker(caller, session_id, rename.speaker, rename.name)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(caller: CurrentCaller, job_id: str) -> JobOut:
    return views.get_job(caller, job_id)


@router.post("/jobs/{job_id}/retry", response_model=JobOut, responses={409: {"model": Problem}})
def retry_job(request: Request, caller: CurrentCaller, job_id: str) -> JobOut:
    """Queue a failed job again; it continues from the stage that failed."""
    job = views.mark_for_retry(caller, job_id)
    request.app.state.queue.submit(job_id)
    return job


@router.get("/sessions/{session_id}/memo", response_model=MemoOut, responses={404: {"model": Problem}})
def get_memo(caller: CurrentCaller, session_id: str) -> MemoOut:
    return views.get_memo(caller, session_id)


@router.put("/sessions/{session_id}/memo", response_model=MemoOut, responses={409: {"model": MemoConflictOut}})
def save_memo(caller: CurrentCaller, session_id: str, edit: MemoSave) -> MemoOut:
    """Save an edit as a new version. 409 with the current version if it was based on an older one."""
    return views.save_memo(caller, session_id, edit.markdown, edit.version)


@router.put("/sessions/{session_id}/memo/status", response_model=MemoStatusOut,
            responses={409: {"model": MemoConflictOut}})
def set_memo_status(caller: CurrentCaller, session_id: str, change: MemoStatusIn) -> MemoStatusOut:
    """Approve the latest version (or reopen it as a draft). Approving lets the program's members read
    the memo and the session's transcript and insights, and play its recording; `quotes_unapproved`
    names other sessions it quotes whose memo is not approved (members now read those quotes too)."""
    return views.set_memo_status(caller, session_id, change.status, change.version)


@router.post("/sessions/{session_id}/memo/withdraw", response_model=MemoOut)
def withdraw_memo(caller: CurrentCaller, session_id: str, withdraw: MemoWithdraw) -> MemoOut:
    """Take an approved version back from members, also when newer drafts exist (reopening acts on the
    latest version only). Members then read the newest version still approved; with none, nothing of
    the session. Returns the version, now a draft."""
    return views.withdraw_approval(caller, session_id, withdraw.version)


@router.get("/sessions/{session_id}/memo/versions", response_model=list[MemoVersionOut])
def memo_versions(caller: CurrentCaller, session_id: str) -> list[MemoVersionOut]:
    return views.memo_versions(caller, session_id)


@router.get("/sessions/{session_id}/memo/versions/{version}", response_model=MemoOut)
def memo_version(caller: CurrentCaller, session_id: str, version: int) -> MemoOut:
    return views.memo_version(caller, session_id, version)


@router.get("/sessions/{session_id}/memo/diff", response_model=list[DiffLine])
def memo_diff(caller: CurrentCaller, session_id: str, before: int, after: int) -> list[DiffLine]:
    """Line differences between two saved versions."""
    old = views.memo_version(caller, session_id, before).markdown
    new = views.memo_version(caller, session_id, after).markdown
    return views.diff_lines(old, new)


@router.post("/sessions/{session_id}/memo/restore", response_model=MemoOut, responses={409: {"model": MemoConflictOut}})
def restore_memo(caller: CurrentCaller, session_id: str, restore: MemoRestore) -> MemoOut:
    """Make an old version's text the newest version (history is kept)."""
    return views.restore_memo(caller, session_id, restore.restore_version, restore.version)


@router.get("/sessions/{session_id}/memo/export/{fmt}", responses={200: {"content": {
    "text/markdown": {}, "text/html": {}, "application/pdf": {},
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {}}}})
def export_memo(
    request: Request, caller: CurrentCaller, session_id: str, fmt: Literal["md", "html", "docx", "pdf"]
) -> Response:
    """Download the latest memo as Markdown, HTML, Word or PDF.

    Its links open the app at the address it was downloaded from, unless INSIGHTCAP_APP_URL says
    where people open it (behind a proxy, the address this server sees may not be that one)."""
    if "app_url" not in caller.settings.model_fields_set:
        caller = replace(caller, settings=caller.settings.model_copy(update={"app_url": str(request.base_url)}))
    return export_file(caller, session_id, fmt)


@router.post("/preview", response_model=PreviewOut)
def preview(caller: CurrentCaller, text: PreviewIn) -> PreviewOut:
    """Markdown rendered as the memo will look within the editor's page (raw HTML is not rendered;
    headings one level down, under the page's own)."""
    return PreviewOut(html=render_markdown(text.markdown, text.session_id, within_page=True))


@router.get("/search", response_model=SearchOut, responses={503: {"model": Problem}})
def search(
    caller: CurrentCaller,
    q: str = Query(max_length=500, description="What to look for, in your own words."),
    program: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    section: str | None = Query(None, description=f"One of {', '.join(SEARCH_SECTIONS)} (transcript: passages "
                                "only); the memo's headings work too, e.g. commitments for action_item."),
    speaker: str | None = None,
    session_id: str | None = None,
    limit: int = Query(20, ge=1, le=MOST_RESULTS),
) -> SearchOut:
    """Search insights and transcript passages of every session; each hit links to its moment."""
    if not q.strip():
        raise HTTPException(status_code=422, detail=QUERY_NEEDED)
    try:
        filters = views.search_filters(caller, program=program or None, date_from=date_from, date_to=date_to,
                                       section=section or None, speaker=speaker or None, session_id=session_id or None)
    except ValidationError as invalid:
        raise HTTPException(status_code=422, detail=filter_problems(invalid)) from invalid
    unknown = views.speaker_problem(caller, filters)
    if unknown:
        raise HTTPException(status_code=422, detail=unknown)
    return SearchOut(query=q, hits=views.search(caller, q, filters, limit))
