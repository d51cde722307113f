"""From an HTTP upload to a queued job: stream to disk, route recordings and transcripts to their
intake, and clean up whatever the outcome. Shared by the upload page and POST /api/sessions."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from insightcap.auth import audit, policy
from insightcap.jobs.intake import (
    AlreadyAdded,
    NotADate,
    parse_session_date,
    speaker_bounds,
    submit,
)
from insightcap.jobs.runner import user_facing_errors
from insightcap.storage.db import session_scope
from insightcap.transcript.speakers import SpeakerBounds, SpeakerHintError
from insightcap.web.models import Link, Submitted
from insightcap.web.uploads import UploadRejected, receive_upload
from insightcap.web.views import Caller


def _parse_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return parse_session_date(value)
    except NotADate as error:
        raise UploadRejected(f"The date {error}") from None


def _whole_number(value: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UploadRejected(f"The number of speakers must be a whole number like 3 (got {value!r}).") from None


def _speaker_bounds(fields: dict[str, str]) -> SpeakerBounds:
    """The optional `speakers` (exact) or `min_speakers`/`max_speakers` fields; used for recordings only."""
    counts = (_whole_number(fields.get(name, "")) for name in ("speakers", "min_speakers", "max_speakers"))
    try:
        return speaker_bounds(*counts, leave_out="the number of speakers empty")
    except SpeakerHintError as error:
        raise UploadRejected(str(error)) from None


def _link_to(added: AlreadyAdded) -> Link:
    """The session the same file made, by title and date: an id means nothing to the person uploading."""
    return Link(url=f"/sessions/{added.session_id}", text=f"Open “{added.title}” ({added.day})")


def _program_for(caller: Caller, requested: str | None) -> str | None:
    with session_scope(caller.settings) as db:
        return policy.program_to_upload_to(db, caller.principal, requested)


def _audit_upload(caller: Caller, session_id: str, filename: str) -> None:
    with session_scope(caller.settings) as db:
        audit.record(db, caller.principal, "upload", session_id, filename)


async def accept_upload(request: Request, caller: Caller) -> Submitted:
    """Raises UploadRejected with a message for the user, or Forbidden for a program the caller does not
    facilitate; either way a rejected upload leaves no file or record."""
    settings = caller.settings
    if not caller.principal.facilitates_any:
        raise policy.Forbidden("Only facilitators and admins can upload sessions.")
    folder = settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    upload = await receive_upload(
        request.headers.get("content-type", ""),
        request.headers.get("content-length"),
        request.stream(),
        folder,
        request.app.state.max_upload_bytes,
    )
    try:
        fields = upload.fields
        speakers = _speaker_bounds(fields)
        program = await run_in_threadpool(_program_for, caller, fields.get("program") or None)
        submitted = await run_in_threadpool(
            submit,
            "transcript" if upload.is_transcript else "media",
            upload.path,
            settings,
            speakers=speakers,
            title=fields.get("title") or None,
            program=program,
            session_date=_parse_date(fields.get("date", "")),
            original_name=upload.filename,
        )
    except AlreadyAdded as added:
        raise UploadRejected(str(added), fields=upload.fields, link=_link_to(added)) from None
    except user_facing_errors() as error:
        raise UploadRejected(str(error), fields=upload.fields) from None
    finally:
        upload.discard()
    await run_in_threadpool(_audit_upload, caller, submitted.session_id, upload.filename)
    request.app.state.queue.submit(submitted.job_id)
    return Submitted(id=submitted.session_id, job_id=submitted.job_id)
